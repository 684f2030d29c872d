using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RateLimit.Store;
using StackExchange.Redis;

// Usage: LoadClient <mode> key=value…   (every mode prints one JSON object on stdout)
//   chat      url= key= concurrency= seconds= [path=/v1/chat/completions] [model=deepseek-r1]
//   stream    url= key= concurrency= seconds= [keyid=] [path=] [verify=true]   (time to first token, completeness)
//   report    url= count=                                 (attestation report latency)
//   limiter   redis= seconds= concurrency=                (decisions/s and Redis calls per decision)
//   sign      count=                                      (ECDSA P-256 signature of a completion digest)
//   overhead  url= key= direct= count= [stream=true] [model=deepseek-r1]   (concurrency 1, alternating one direct and one gateway request:
//                                                          added latency, or added time to first token, p50/p99)
//   fixed     url= key= count= concurrency= [model=deepseek-r1]            (exactly count non-stream requests; for CPU per request)
//   (TEE_INTERNAL_TOKEN in the environment: sent as x-tee-internal-token, for calling the worker directly)
//   (BENCH_HEADERS="name: value|name: value" in the environment: sent with every request, e.g. the peer gateway's routing headers)
//   sealed    url= key= count=                            (concurrency 1, alternating a clear and an EHBP-sealed gateway
//                                                          request, non-stream: what sealing adds, p50/p99)
var mode = args.FirstOrDefault() ?? "";
var opts = args.Skip(1).Select(a => a.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
string Opt(string name, string? fallback = null) => opts.TryGetValue(name, out var v) ? v : fallback ?? throw new ArgumentException($"missing {name}=");
var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 4096, PooledConnectionLifetime = TimeSpan.FromMinutes(10), UseProxy = false, AutomaticDecompression = DecompressionMethods.None };
var http = new HttpClient(handler) { Timeout = TimeSpan.FromMinutes(5) };

object result = mode switch
{
    "chat" => await Load.ChatAsync(http, Opt("url"), Opt("key", ""), int.Parse(Opt("concurrency", "32")), double.Parse(Opt("seconds", "10")), Opt("path", "/v1/chat/completions"), Opt("model", "deepseek-r1")),
    "stream" => await Load.StreamAsync(http, Opt("url"), Opt("key", ""), Opt("keyid", ""), int.Parse(Opt("concurrency", "16")), double.Parse(Opt("seconds", "10")), Opt("path", "/v1/chat/completions"), Opt("model", "deepseek-r1")),
    "report" => await Load.ReportAsync(http, Opt("url"), int.Parse(Opt("count", "50"))),
    "limiter" => await Load.LimiterAsync(Opt("redis"), double.Parse(Opt("seconds", "5")), int.Parse(Opt("concurrency", "64"))),
    "sign" => Load.Sign(int.Parse(Opt("count", "20000"))),
    "overhead" => await Load.OverheadAsync(http, Opt("url"), Opt("key"), Opt("direct"), int.Parse(Opt("count", "2000")), bool.Parse(Opt("stream", "false")), Opt("model", "deepseek-r1")),
    "fixed" => await Load.FixedAsync(http, Opt("url"), Opt("key"), int.Parse(Opt("count", "2000")), int.Parse(Opt("concurrency", "8")), Opt("model", "deepseek-r1")),
    "sealed" => await Load.SealedAsync(handler, http, Opt("url"), Opt("key"), int.Parse(Opt("count", "2000"))),
    _ => throw new ArgumentException("mode: chat | stream | report | limiter | sign | overhead | fixed | sealed"),
};
Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));

static class Load
{
    public static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return -1; // no samples (JSON has no NaN)
        values.Sort();
        var rank = p / 100 * (values.Count - 1);
        var lo = (int)Math.Floor(rank);
        var hi = (int)Math.Ceiling(rank);
        return values[lo] + (values[hi] - values[lo]) * (rank - lo);
    }

    private static readonly (string Name, string Value)[] ExtraHeaders =
        (Environment.GetEnvironmentVariable("BENCH_HEADERS") ?? "").Split('|', StringSplitOptions.RemoveEmptyEntries)
            .Select(h => h.Split(':', 2)).Select(p => (p[0].Trim(), p[1].Trim())).ToArray();

    private static HttpRequestMessage Post(string url, string path, string key, string keyId, bool stream, string model)
    {
        var body = $"{{\"model\":\"{model}\",\"stream\":{(stream ? "true" : "false")}{(stream ? ",\"stream_options\":{\"include_usage\":true}" : "")},\"messages\":[{{\"role\":\"user\",\"content\":\"benchmark prompt\"}}]}}";
        var request = new HttpRequestMessage(HttpMethod.Post, url.TrimEnd('/') + path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (key.Length > 0) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (keyId.Length > 0) request.Headers.Add("x-tee-key-id", keyId);
        // Calling the worker directly (as the gateway would): it answers only with the internal token.
        if (Environment.GetEnvironmentVariable("TEE_INTERNAL_TOKEN") is { Length: > 0 } token) request.Headers.Add("x-tee-internal-token", token);
        foreach (var (name, value) in ExtraHeaders) request.Headers.Add(name, value);
        return request;
    }

    public static async Task<object> ChatAsync(HttpClient http, string url, string key, int concurrency, double seconds, string path, string model)
    {
        var latencies = new List<double>();
        var errors = new Dictionary<string, int>();
        var deadline = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        // Warm-up: connections, JIT.
        for (var i = 0; i < concurrency; i++) { using var r = await http.SendAsync(Post(url, path, key, "", false, model)); }
        async Task Worker()
        {
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.SendAsync(Post(url, path, key, "", false, model));
                    await response.Content.ReadAsByteArrayAsync();
                    var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    lock (latencies)
                    {
                        if (response.IsSuccessStatusCode) latencies.Add(ms);
                        else errors[((int)response.StatusCode).ToString()] = errors.GetValueOrDefault(((int)response.StatusCode).ToString()) + 1;
                    }
                }
                catch (Exception e)
                {
                    lock (latencies) errors[e.GetType().Name] = errors.GetValueOrDefault(e.GetType().Name) + 1;
                }
            }
        }
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Worker)));
        var count = latencies.Count;
        return new { requests = count, rps = count / sw.Elapsed.TotalSeconds, p50_ms = Percentile(latencies, 50), p99_ms = Percentile(latencies, 99), errors };
    }

    /// <summary>
    /// One request at a time, alternating the backend directly and the gateway, so both see the
    /// same machine load; the overhead is the difference of the percentiles.
    /// </summary>
    public static async Task<object> OverheadAsync(HttpClient http, string url, string key, string direct, int count, bool stream, string urlModel)
    {
        var (viaDirect, viaGateway) = (new List<double>(count), new List<double>(count));
        var errors = 0;
        async Task<double?> Once(string target, string k, string model)
        {
            var start = Stopwatch.GetTimestamp();
            using var response = await http.SendAsync(Post(target, "/v1/chat/completions", k, "", stream, model), stream ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead);
            if (!response.IsSuccessStatusCode) return null;
            if (!stream) return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            double? first = null;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (first is null && line.StartsWith("data: {", StringComparison.Ordinal)
                    && (line.Contains("reasoning_content", StringComparison.Ordinal) || (line.Contains("\"content\":\"", StringComparison.Ordinal) && !line.Contains("\"content\":\"\"", StringComparison.Ordinal))))
                    first = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
            return first;
        }
        for (var i = 0; i < 200; i++) { await Once(direct, "", "deepseek-r1:1.5b"); await Once(url, key, urlModel); } // warm-up: JIT, connections
        for (var i = 0; i < count; i++)
        {
            if (await Once(direct, "", "deepseek-r1:1.5b") is { } d) viaDirect.Add(d); else errors++;
            if (await Once(url, key, urlModel) is { } g) viaGateway.Add(g); else errors++;
        }
        double P(List<double> v, double p) => Percentile(v, p);
        return new
        {
            count, stream, errors,
            direct_p50_ms = P(viaDirect, 50), direct_p99_ms = P(viaDirect, 99),
            gateway_p50_ms = P(viaGateway, 50), gateway_p99_ms = P(viaGateway, 99),
            overhead_p50_ms = P(viaGateway, 50) - P(viaDirect, 50), overhead_p99_ms = P(viaGateway, 99) - P(viaDirect, 99),
        };
    }

    /// <summary>
    /// One request at a time, alternating a clear and a sealed (EHBP, the product's client handler,
    /// sealed to the key at /.well-known/hpke-keys) request through the gateway; the sealing overhead
    /// is the difference of the percentiles. Both share one connection pool.
    /// </summary>
    public static async Task<object> SealedAsync(HttpMessageHandler pool, HttpClient http, string url, string key, int count)
    {
        var config = await http.GetByteArrayAsync(new Uri(new Uri(url), "/.well-known/hpke-keys"));
        if (!TeeAspire.Attestation.Verifier.Sealing.EhbpKeyConfig.TryParse(config, out var keyConfig, out var why))
            throw new InvalidOperationException("the gateway's key config does not parse: " + why);
        using var sealedHttp = new HttpClient(new TeeAspire.Attestation.Verifier.Sealing.EhbpHandler(keyConfig.PublicKey, pool), disposeHandler: false) { Timeout = TimeSpan.FromMinutes(1) };
        var (clear, sealedTimes) = (new List<double>(count), new List<double>(count));
        var errors = 0;
        async Task<double?> Once(HttpClient client)
        {
            var start = Stopwatch.GetTimestamp();
            using var response = await client.SendAsync(Post(url, "/v1/chat/completions", key, "", false, "deepseek-r1"));
            if (!response.IsSuccessStatusCode) return null;
            await response.Content.ReadAsByteArrayAsync(); // sealed: opened chunk by chunk here
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        for (var i = 0; i < 200; i++) { await Once(http); await Once(sealedHttp); } // warm-up
        for (var i = 0; i < count; i++)
        {
            if (await Once(http) is { } c) clear.Add(c); else errors++;
            if (await Once(sealedHttp) is { } s) sealedTimes.Add(s); else errors++;
        }
        return new
        {
            count, errors,
            clear_p50_ms = Percentile(clear, 50), clear_p99_ms = Percentile(clear, 99),
            sealed_p50_ms = Percentile(sealedTimes, 50), sealed_p99_ms = Percentile(sealedTimes, 99),
            sealed_overhead_p50_ms = Percentile(sealedTimes, 50) - Percentile(clear, 50),
            sealed_overhead_p99_ms = Percentile(sealedTimes, 99) - Percentile(clear, 99),
        };
    }

    /// <summary>Exactly <paramref name="count"/> non-stream requests over <paramref name="concurrency"/> connections.</summary>
    public static async Task<object> FixedAsync(HttpClient http, string url, string key, int count, int concurrency, string model)
    {
        var left = count;
        var errors = 0;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Decrement(ref left) >= 0)
            {
                using var response = await http.SendAsync(Post(url, "/v1/chat/completions", key, "", false, model));
                await response.Content.ReadAsByteArrayAsync();
                if (!response.IsSuccessStatusCode) Interlocked.Increment(ref errors);
            }
        })));
        return new { count, concurrency, errors, seconds = sw.Elapsed.TotalSeconds, rps = count / sw.Elapsed.TotalSeconds };
    }

    public static async Task<object> StreamAsync(HttpClient http, string url, string key, string keyId, int concurrency, double seconds, string path, string model)
    {
        var ttft = new List<double>();
        var errors = new Dictionary<string, int>();
        long completed = 0, incomplete = 0, tokens = 0, windowTokens = 0;
        var deadline = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        async Task Worker()
        {
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.SendAsync(Post(url, path, key, keyId, true, model), HttpCompletionOption.ResponseHeadersRead);
                    if (!response.IsSuccessStatusCode)
                    {
                        lock (ttft) errors[((int)response.StatusCode).ToString()] = errors.GetValueOrDefault(((int)response.StatusCode).ToString()) + 1;
                        continue;
                    }
                    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                    var first = true;
                    var done = false;
                    long used = 0;
                    while (await reader.ReadLineAsync() is { } line)
                    {
                        if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                        var data = line[6..];
                        if (data == "[DONE]") { done = true; break; }
                        if (first && (data.Contains("\"content\":\"", StringComparison.Ordinal) && !data.Contains("\"content\":\"\"", StringComparison.Ordinal) || data.Contains("reasoning_content", StringComparison.Ordinal)))
                        {
                            first = false;
                            var ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                            lock (ttft) ttft.Add(ms);
                        }
                        // Each content or reasoning delta is one generated token; count those that arrive in the window.
                        if (Stopwatch.GetTimestamp() < deadline && (data.Contains("reasoning_content", StringComparison.Ordinal) || (data.Contains("\"content\":\"", StringComparison.Ordinal) && !data.Contains("\"content\":\"\"", StringComparison.Ordinal))))
                            Interlocked.Increment(ref windowTokens);
                        if (data.Contains("\"usage\":{", StringComparison.Ordinal))
                            used = (long?)JsonNode.Parse(data)!["usage"]!["completion_tokens"] ?? 0;
                        if (data.StartsWith("{\"error\"", StringComparison.Ordinal)) break;
                    }
                    if (done) { Interlocked.Increment(ref completed); Interlocked.Add(ref tokens, used); }
                    else Interlocked.Increment(ref incomplete);
                }
                catch (Exception e)
                {
                    lock (ttft) errors[e.GetType().Name] = errors.GetValueOrDefault(e.GetType().Name) + 1;
                }
            }
        }
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(Worker)));
        var elapsed = sw.Elapsed.TotalSeconds;
        return new
        {
            completed, incomplete, errors, seconds = elapsed, completion_tokens = tokens, tokens_per_s = tokens / elapsed,
            window_tokens = windowTokens, window_tokens_per_s = windowTokens / seconds,
            ttft_p50_ms = Percentile(ttft, 50), ttft_p99_ms = Percentile(ttft, 99),
        };
    }

    public static async Task<object> ReportAsync(HttpClient http, string url, int count)
    {
        var latencies = new List<double>();
        for (var i = 0; i < count + 3; i++)
        {
            var nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
            var start = Stopwatch.GetTimestamp();
            using var response = await http.GetAsync($"{url.TrimEnd('/')}/attestation?nonce={nonce}");
            await response.Content.ReadAsByteArrayAsync();
            response.EnsureSuccessStatusCode();
            if (i >= 3) latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        return new { count, p50_ms = Percentile(latencies, 50), p99_ms = Percentile(latencies, 99) };
    }

    public static async Task<object> LimiterAsync(string redis, double seconds, int concurrency)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis + ",allowAdmin=true");
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        // A chat completion's whole admission: requests/min, tokens/min and a concurrency lease, one EVALSHA.
        using var limiter = new RedisKeyLimiter(new RedisKeyLimiterOptions { Connection = connection, RequestWindow = TimeSpan.FromSeconds(10) });
        var partition = "bench-" + Guid.NewGuid().ToString("N");
        var limits = new KeyLimits(1_000_000_000, 1_000_000_000, 1_000_000);
        (await limiter.AdmitAsync(partition, limits, true)).Dispose();
        await Task.Delay(200);
        await server.ConfigResetStatisticsAsync();
        long decisions = 0;
        var deadline = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var admission = await limiter.AdmitAsync(partition, limits, true);
                Interlocked.Increment(ref decisions);
                if (!admission.IsAcquired) throw new InvalidOperationException("refused");
                admission.Dispose(); // the release: one ZREM, not awaited

            }
        })));
        var elapsed = sw.Elapsed.TotalSeconds;
        var stats = (await server.InfoAsync("commandstats")).SelectMany(g => g).ToDictionary(e => e.Key, e => e.Value);
        long Calls(string name) => stats.TryGetValue(name, out var v) ? long.Parse(v.Split(',')[0].Split('=')[1]) : 0;
        // Client-issued commands: scripts (EVALSHA/EVAL); everything else in commandstats ran inside them.
        var clientCalls = Calls("cmdstat_evalsha") + Calls("cmdstat_eval");
        return new { decisions, seconds = elapsed, decisions_per_s = decisions / elapsed, redis_client_calls = clientCalls, calls_per_decision = (double)clientCalls / decisions, evalsha = Calls("cmdstat_evalsha"), eval = Calls("cmdstat_eval"), releases_zrem = Calls("cmdstat_zrem") };
    }

    public static object Sign(int count)
    {
        // What the worker's AnswerSigner does per completion: ES256 (P1363) over the answer statement.
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var text = TeeAspire.Attestation.Verifier.AnswerStatement.Build($"chatcmpl-{Guid.NewGuid():N}", 1764000000,
            Convert.ToHexStringLower(SHA256.HashData("req"u8)), Convert.ToHexStringLower(SHA256.HashData("resp"u8)), null);
        var key = new { Sign = (Func<string, byte[]>)(t => ecdsa.SignData(System.Text.Encoding.UTF8.GetBytes(t), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)) };
        for (var i = 0; i < 1000; i++) key.Sign(text);
        var latencies = new List<double>(count);
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            key.Sign(text);
            latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        return new { count, p50_ms = Percentile(latencies, 50), p99_ms = Percentile(latencies, 99) };
    }
}
