using System.Globalization;
using System.Text;
using System.Text.Json;

namespace TeeAspire.Attestation.Verifier;

/// <summary>A policy file that cannot be used: the reason names the field. Its check name is <c>policy.format</c>.</summary>
public sealed class PolicyFormatException(string message) : Exception(message);

/// <summary>
/// What a customer expects of the service (PROTOCOL.md "Policy file"): which TD (MRTD, RTMR0–3,
/// MRSEAM, TDATTRIBUTES, XFAM, debug), which TCB statuses, which PCR values, optionally which
/// answer-signing key. A policy never carries trust anchors or insecure switches: those are
/// <see cref="VerificationOptions"/>, given by the caller's own code or command line.
/// </summary>
public sealed class VerificationPolicy
{
    /// <summary>The check name a policy that fails to load is reported under.</summary>
    public const string FormatCheck = "policy.format";

    /// <summary>The TD fields a policy can pin, in the order they are checked and written.</summary>
    public static readonly IReadOnlyList<string> TdFields = ["mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrseam", "td_attributes", "xfam"];

    private static readonly string[] TopLevel = ["platform", "td", "tcb", "pcrs", "signing_key_fingerprint", "app", "answer"];
    private static readonly string[] AppFields = ["pcr", "compose_sha256", "images", "config_sha256", "allow_interactive_access"];

    /// <summary>The platform the evidence must prove (<c>azure-tdx</c>, <c>azure-snp</c>); null: any hardware platform.</summary>
    public string? Platform { get; set; }

    /// <summary>Accepted values per TD field (<see cref="TdFields"/>), lowercase hex; an absent field is not checked.</summary>
    public Dictionary<string, List<string>> Td { get; } = new(StringComparer.Ordinal);

    /// <summary>Accept a TD with the DEBUG attribute set (never by default).</summary>
    public bool AllowDebug { get; set; }

    /// <summary>TCB statuses accepted from DCAP; default UpToDate only.</summary>
    public List<string> TcbAccept { get; set; } = ["UpToDate"];

    /// <summary>Expected sha256 PCR values (index → lowercase hex); each must be in the quote's selection.</summary>
    public SortedDictionary<int, string> Pcrs { get; } = new();

    /// <summary>The answer-signing key's fingerprint, to pin one deployment (optional): the key set must hold it.</summary>
    public string? SigningKeyFingerprint { get; set; }

    /// <summary>The release the measured launch must show (<see cref="AppMeasurement"/>); null: not checked.</summary>
    public AppPolicy? App { get; set; }

    /// <summary>
    /// The models an answer may come from (<c>answer.models</c>: <c>name@sha256:digest</c>, the
    /// release's pins); empty: any model, which each answer check reports (<c>answer.model</c>).
    /// </summary>
    public List<string> AnswerModels { get; } = [];

    /// <summary>Loads a policy file; throws <see cref="PolicyFormatException"/> naming what is wrong (never another exception).</summary>
    public static VerificationPolicy Load(string json)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new PolicyFormatException("the policy is not JSON: " + e.Message);
        }
        using (doc) return Read(doc.RootElement);
    }

    /// <summary>Loads a policy file, or gives the reason it cannot be used.</summary>
    public static bool TryLoad(string json, out VerificationPolicy? policy, out string? error)
    {
        try
        {
            policy = Load(json);
            error = null;
            return true;
        }
        catch (PolicyFormatException e)
        {
            policy = null;
            error = e.Message;
            return false;
        }
    }

    private static VerificationPolicy Read(JsonElement root)
    {
        var fields = Members(root, "the policy");
        if (fields.ContainsKey("allow_insecure_platform"))
            throw new PolicyFormatException("allow_insecure_platform cannot be set in a policy file: an insecure platform is accepted only by the command-line flag --allow-insecure-platform (or the library option)");
        foreach (var name in fields.Keys)
            if (!TopLevel.Contains(name)) throw new PolicyFormatException($"unknown policy field '{Printable(name)}'");
        var policy = new VerificationPolicy();
        if (fields.TryGetValue("platform", out var platform) && platform.ValueKind != JsonValueKind.Null)
            policy.Platform = platform.ValueKind == JsonValueKind.String && platform.GetString() is "azure-tdx" or "azure-snp"
                ? platform.GetString()
                : throw new PolicyFormatException("platform must be \"azure-tdx\" or \"azure-snp\"");
        if (fields.TryGetValue("td", out var td)) ReadTd(td, policy);
        if (fields.TryGetValue("tcb", out var tcb)) ReadTcb(tcb, policy);
        if (fields.TryGetValue("pcrs", out var pcrs)) ReadPcrs(pcrs, policy);
        if (fields.TryGetValue("signing_key_fingerprint", out var pin) && pin.ValueKind != JsonValueKind.Null)
            policy.SigningKeyFingerprint = pin.ValueKind == JsonValueKind.String && IsHex(pin.GetString()!, 32)
                ? pin.GetString()!.ToLowerInvariant()
                : throw new PolicyFormatException("signing_key_fingerprint must be 64 hex digits");
        if (fields.TryGetValue("app", out var app) && app.ValueKind != JsonValueKind.Null) policy.App = ReadApp(app);
        if (fields.TryGetValue("answer", out var answer) && answer.ValueKind != JsonValueKind.Null) ReadAnswer(answer, policy);
        return policy;
    }

    private static void ReadAnswer(JsonElement answer, VerificationPolicy policy)
    {
        foreach (var (name, value) in Members(answer, "answer"))
        {
            if (name != "models") throw new PolicyFormatException($"unknown answer field '{Printable(name)}'");
            if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() is 0 or > 256)
                throw new PolicyFormatException("answer.models must be a non-empty list of <model>@sha256:<64 lowercase hex>");
            foreach (var v in value.EnumerateArray())
            {
                if (v.ValueKind != JsonValueKind.String || !ModelRef.TryParse(v.GetString(), out var model))
                    throw new PolicyFormatException("answer.models values must be <model>@sha256:<64 lowercase hex>");
                if (policy.AnswerModels.Contains(model.ToString())) throw new PolicyFormatException($"answer.models lists {model} twice");
                policy.AnswerModels.Add(model.ToString());
            }
        }
    }

    private static void ReadTd(JsonElement td, VerificationPolicy policy)
    {
        foreach (var (name, value) in Members(td, "td"))
        {
            if (name == "allow_debug")
            {
                policy.AllowDebug = value.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw new PolicyFormatException("td.allow_debug must be true or false"),
                };
                continue;
            }
            if (!TdFields.Contains(name)) throw new PolicyFormatException($"unknown td field '{Printable(name)}'");
            var bytes = TdMeasurements.Size(name);
            if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() is 0 or > 256)
                throw new PolicyFormatException($"td.{name} must be a non-empty list of accepted values");
            var values = new List<string>();
            foreach (var v in value.EnumerateArray())
                values.Add(v.ValueKind == JsonValueKind.String && IsHex(v.GetString()!, bytes)
                    ? v.GetString()!.ToLowerInvariant()
                    : throw new PolicyFormatException($"td.{name} values must be {bytes * 2} hex digits"));
            policy.Td[name] = values;
        }
    }

    private static AppPolicy ReadApp(JsonElement app)
    {
        var fields = Members(app, "app");
        foreach (var name in fields.Keys)
            if (!AppFields.Contains(name)) throw new PolicyFormatException($"unknown app field '{Printable(name)}'");
        AppPolicy policy;
        try
        {
            policy = app.Deserialize<AppPolicy>() ?? throw new PolicyFormatException("app must be an object");
        }
        catch (JsonException e)
        {
            throw new PolicyFormatException("app: " + e.Message);
        }
        return policy.Problem() is { } problem ? throw new PolicyFormatException(problem) : policy;
    }

    private static void ReadTcb(JsonElement tcb, VerificationPolicy policy)
    {
        foreach (var (name, value) in Members(tcb, "tcb"))
        {
            if (name != "accept") throw new PolicyFormatException($"unknown tcb field '{Printable(name)}'");
            if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() is 0 or > 16)
                throw new PolicyFormatException("tcb.accept must be a non-empty list of TCB statuses");
            policy.TcbAccept = [.. value.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String && KeySet.IsToken(v.GetString())
                ? v.GetString()!
                : throw new PolicyFormatException("tcb.accept values must be TCB status names such as \"UpToDate\""))];
        }
    }

    private static void ReadPcrs(JsonElement pcrs, VerificationPolicy policy)
    {
        foreach (var (name, value) in Members(pcrs, "pcrs"))
        {
            if (!TryParsePcrIndex(name, out var index))
                throw new PolicyFormatException($"PCR key '{Printable(name)}' is not a canonical decimal index 0–23 (\"7\", never \"07\")");
            policy.Pcrs[index] = value.ValueKind == JsonValueKind.String && IsHex(value.GetString()!, 32)
                ? value.GetString()!.ToLowerInvariant()
                : throw new PolicyFormatException($"pcrs.{index} must be 64 hex digits (a sha256 PCR value)");
        }
    }

    /// <summary>An object's members; a duplicate name or a non-object is a format error.</summary>
    private static Dictionary<string, JsonElement> Members(JsonElement element, string what)
    {
        if (element.ValueKind != JsonValueKind.Object) throw new PolicyFormatException($"{what} must be a JSON object");
        var members = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var p in element.EnumerateObject())
            if (!members.TryAdd(p.Name, p.Value)) throw new PolicyFormatException($"{what} names '{Printable(p.Name)}' twice");
        return members;
    }

    /// <summary>Whether a PCR key is canonical: decimal 0–23 without sign, space or leading zero.</summary>
    public static bool TryParsePcrIndex(string key, out int index)
    {
        index = -1;
        if (key.Length is 0 or > 2 || !key.All(char.IsAsciiDigit) || (key.Length == 2 && key[0] == '0')) return false;
        index = int.Parse(key, NumberStyles.None, CultureInfo.InvariantCulture);
        return index <= 23;
    }

    internal static bool IsHex(string s, int bytes) => s.Length == bytes * 2 && s.All(char.IsAsciiHexDigit);

    private static string Printable(string s) => s.Length > 40 || !s.All(c => c is >= ' ' and <= '~') ? "(unprintable or long name)" : s;

    /// <summary>The policy file text (PROTOCOL.md "Policy file").</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            if (Platform is not null) w.WriteString("platform", Platform);
            w.WriteStartObject("td");
            foreach (var field in TdFields)
            {
                if (!Td.TryGetValue(field, out var values)) continue;
                w.WriteStartArray(field);
                foreach (var v in values) w.WriteStringValue(v);
                w.WriteEndArray();
            }
            w.WriteBoolean("allow_debug", AllowDebug);
            w.WriteEndObject();
            w.WriteStartObject("tcb");
            w.WriteStartArray("accept");
            foreach (var s in TcbAccept) w.WriteStringValue(s);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("pcrs");
            foreach (var (index, value) in Pcrs) w.WriteString(index.ToString(CultureInfo.InvariantCulture), value);
            w.WriteEndObject();
            if (SigningKeyFingerprint is not null) w.WriteString("signing_key_fingerprint", SigningKeyFingerprint);
            if (App is not null)
            {
                w.WritePropertyName("app");
                JsonSerializer.Serialize(w, App);
            }
            if (AnswerModels.Count > 0)
            {
                w.WriteStartObject("answer");
                w.WriteStartArray("models");
                foreach (var m in AnswerModels) w.WriteStringValue(m);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }
}
