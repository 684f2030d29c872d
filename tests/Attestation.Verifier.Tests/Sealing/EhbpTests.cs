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
}
