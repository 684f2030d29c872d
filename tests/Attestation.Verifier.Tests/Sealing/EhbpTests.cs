using System.Text.Json;
using TeeAspire.Attestation.Verifier.Sealing;

namespace TeeAspire.Attestation.Verifier.Tests.Sealing;

/// <summary>EHBP's derivation and framing against the spec's own cross-language vectors (ehbp-vectors.json names the source).</summary>
public sealed class EhbpTests
{
    private static JsonElement Vectors(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Sealing", "ehbp-vectors.json")));
        return doc.RootElement.GetProperty(name).Clone();
    }

    private static byte[] Hex(JsonElement e, string name) => Convert.FromHexString(e.GetProperty(name).GetString()!);

    private static CancellationToken Timeout => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    [Fact]
    public async Task AFrameAnnouncedAtAMebibyteThatSendsTenBytesHoldsNoMebibyteBuffer()
    {
        // The prefix is the sender's word: a buffer sized from it would let each connection pin 1 MiB for 14 bytes sent.
        var pipe = new System.IO.Pipelines.Pipe();
        var sent = new byte[Ehbp.LengthPrefix + 10];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(sent, 1 << 20);
        await pipe.Writer.WriteAsync(sent, Timeout);
        var body = pipe.Reader.AsStream();

        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var reading = EhbpFrames.ReadAsync(body, 2 << 20, Timeout);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;

        Assert.False(reading.IsCompleted);
        Assert.True(allocated < 64 << 10, $"{allocated} bytes allocated for a frame of which 10 bytes arrived");
        await pipe.Writer.WriteAsync(new byte[(1 << 20) - 10], Timeout); // the rest arrives: the frame is read whole
        Assert.Equal(1 << 20, (await reading)!.Length);
    }

    [Fact]
    public void DerivesTheSpecsResponseKeyAndNonce()
    {
        var v = Vectors("derive");
        using var aead = Ehbp.DeriveResponseAead(Hex(v, "exportedSecret"), Hex(v, "requestEnc"), Hex(v, "responseNonce"));
        Assert.Equal(Hex(v, "derivedKey"), aead.Key.ToArray());
        Assert.Equal(Hex(v, "derivedNonceBase"), aead.NonceBase.ToArray());
    }

    [Fact]
    public async Task OpensTheSpecsEncryptedResponse()
    {
        var v = Vectors("responseDecryption");
        var state = new EhbpRequestState(Hex(v, "exportedSecret"), Hex(v, "requestEnc"));
        await using var opened = EhbpOpeningStream.ForResponse(new MemoryStream(Hex(v, "encryptedResponse")), state.ResponseAead(Hex(v, "responseNonce")));
        using var plain = new MemoryStream();
        await opened.CopyToAsync(plain, Timeout);
        Assert.Equal(Hex(v, "plaintext"), plain.ToArray());
    }

    [Fact]
    public async Task SealsTheSpecsResponseByteForByte()
    {
        var v = Vectors("responseDecryption");
        var state = new EhbpRequestState(Hex(v, "exportedSecret"), Hex(v, "requestEnc"));
        using var aead = state.ResponseAead(Hex(v, "responseNonce"));
        using var wire = new MemoryStream();
        await using (var sealing = new EhbpSealingStream(wire, p => aead.Seal(p.Span)))
            await sealing.WriteAsync(Hex(v, "plaintext"), Timeout);
        Assert.Equal(Hex(v, "encryptedResponse"), wire.ToArray());
    }

    [Theory]
    [InlineData(0, 0)]   // a flipped length prefix
    [InlineData(10, 1)]  // a flipped ciphertext byte
    [InlineData(-1, 0)]  // the last tag byte removed (truncated frame)
    [InlineData(-2, 0)]  // a partial length prefix appended
    public async Task RefusesATamperedOrTruncatedResponse(int at, byte flip)
    {
        var v = Vectors("responseDecryption");
        var wire = Hex(v, "encryptedResponse");
        if (at >= 0) wire[at] ^= (byte)(flip == 0 ? 0x01 : flip);
        else if (at == -1) wire = wire[..^1];
        else wire = [.. wire, 0, 0];
        var state = new EhbpRequestState(Hex(v, "exportedSecret"), Hex(v, "requestEnc"));
        await using var opened = EhbpOpeningStream.ForResponse(new MemoryStream(wire), state.ResponseAead(Hex(v, "responseNonce")));
        using var plain = new MemoryStream();
        await Assert.ThrowsAsync<EhbpException>(() => opened.CopyToAsync(plain, Timeout));
        if (at >= 0) Assert.Equal(0, plain.Length); // nothing released from a chunk that failed
    }

    [Fact]
    public async Task ResponseChunksCannotBeReordered()
    {
        var aead = new EhbpRequestState(new byte[32], new byte[32]).ResponseAead(new byte[32]);
        var first = Ehbp.Frame(aead.Seal("one"u8));
        var second = Ehbp.Frame(aead.Seal("two"u8));
        await using var opened = EhbpOpeningStream.ForResponse(new MemoryStream([.. second, .. first]), new EhbpRequestState(new byte[32], new byte[32]).ResponseAead(new byte[32]));
        await Assert.ThrowsAsync<EhbpException>(() => opened.CopyToAsync(Stream.Null, Timeout));
    }

    [Fact]
    public void KeyConfigRoundTripsInTheReferenceLayout()
    {
        var publicKey = Enumerable.Repeat((byte)7, 32).ToArray();
        var bytes = EhbpKeyConfig.ForX25519(publicKey).Encode();
        // key id 0, KEM 0x0020, the key, suites length 4, HKDF-SHA256 0x0001, AES-256-GCM 0x0002 (SPEC.md §3.2).
        Assert.Equal([0x00, 0x00, 0x20, .. publicKey, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02], bytes);
        Assert.True(EhbpKeyConfig.TryParse([.. bytes, .. EhbpKeyConfig.ForX25519(new byte[32]).Encode()], out var parsed, out _));
        Assert.Equal(publicKey, parsed.PublicKey);
    }

    [Theory]
    [InlineData("")]
    [InlineData("0000")]
    [InlineData("000010" + "0707070707070707070707070707070707070707070707070707070707070707" + "000400010002")] // P-256 KEM id
    [InlineData("000020" + "07070707070707070707070707070707")] // truncated key
    [InlineData("000020" + "0707070707070707070707070707070707070707070707070707070707070707" + "000400010001")] // AES-128 only
    [InlineData("000020" + "0707070707070707070707070707070707070707070707070707070707070707" + "0003000100")] // odd suites length
    [InlineData("000020" + "0707070707070707070707070707070707070707070707070707070707070707" + "0008000100020001")] // suites truncated
    public void RefusesAMalformedOrForeignKeyConfig(string hex)
    {
        Assert.False(EhbpKeyConfig.TryParse(Convert.FromHexString(hex), out _, out var reason));
        Assert.NotEmpty(reason);
    }

    [Theory]
    [InlineData(200)]
    [InlineData(500)]
    public async Task TheHandlerRefusesAnAnswerWithTwoResponseNonces(int status)
    {
        var server = X25519KeyPair.Generate();
        var nonce = Ehbp.Hex(new byte[Ehbp.ResponseNonceLength]);
        using var http = new HttpClient(new EhbpHandler(server.PublicKey, new Answering(status, [nonce, nonce])));
        await Assert.ThrowsAsync<EhbpException>(() => http.PostAsync("http://gateway.invalid/v1/chat/completions", new StringContent("{}"), Timeout));
    }

    [Fact]
    public async Task TheHandlerOpensASealedAnswerAndKeepsItsContentHeaders()
    {
        var server = X25519KeyPair.Generate();
        using var http = new HttpClient(new EhbpHandler(server.PublicKey, new Echoing(server)));
        using var response = await http.PostAsync("http://gateway.invalid/v1/chat/completions", new StringContent("{\"a\":1}", System.Text.Encoding.UTF8, "application/json"), Timeout);
        Assert.Equal("{\"a\":1}", await response.Content.ReadAsStringAsync(Timeout));
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>Answers every request with <c>status</c> and the given response-nonce header lines, unsealed.</summary>
    private sealed class Answering(int status, string[] nonces) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = new HttpResponseMessage((System.Net.HttpStatusCode)status) { Content = new ByteArrayContent([]) };
            foreach (var nonce in nonces) response.Headers.TryAddWithoutValidation(Ehbp.ResponseNonceHeader, nonce);
            return Task.FromResult(response);
        }
    }

    /// <summary>A server in miniature: opens the sealed request and answers its plaintext sealed, with the request's content type.</summary>
    private sealed class Echoing(X25519KeyPair key) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var enc = Ehbp.ParseHex(request.Headers.GetValues(Ehbp.EncapsulatedKeyHeader).Single(), Hpke.Npk)!;
            using var context = Hpke.X25519Sha256Aes256Gcm.SetupBaseReceiver(enc, key, Ehbp.RequestInfo);
            var sealedBody = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            var plain = context.Open([], sealedBody.AsSpan(Ehbp.LengthPrefix))!;
            var nonce = System.Security.Cryptography.RandomNumberGenerator.GetBytes(Ehbp.ResponseNonceLength);
            using var aead = Ehbp.DeriveResponseAead(context.Export(Ehbp.ExportLabel, Ehbp.SecretLength), enc, nonce);
            var response = new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new ByteArrayContent(Ehbp.Frame(aead.Seal(plain))) };
            response.Content.Headers.TryAddWithoutValidation("Content-Type", request.Content.Headers.GetValues("Content-Type"));
            response.Headers.TryAddWithoutValidation(Ehbp.ResponseNonceHeader, Ehbp.Hex(nonce));
            return response;
        }
    }
}
