using System.Text.Json;
using TeeAspire.Attestation.Verifier.Sealing;

namespace TeeAspire.Attestation.Verifier.Tests.Sealing;

/// <summary>RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256) + HKDF-SHA256, against RFC 9180 A.1.1 (hpke-vectors.json names the source). AES-256-GCM (the suite EHBP uses) is checked against the spec's vectors in EhbpTests and the third-party ehbp client in the interop test.</summary>
public sealed class HpkeTests
{
    public static TheoryData<int> Vectors => [1];

    private static JsonElement Vector(int aead)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Sealing", "hpke-vectors.json")));
        return doc.RootElement.GetProperty("vectors").EnumerateArray().Single(v => v.GetProperty("aead_id").GetInt32() == aead).Clone();
    }

    private static byte[] Hex(JsonElement e, string name) => Convert.FromHexString(e.GetProperty(name).GetString()!);

    [Theory, MemberData(nameof(Vectors))]
    public void DerivesTheVectorsKeyPairsFromTheirSeeds(int aead)
    {
        var v = Vector(aead);
        var r = Hpke.DeriveKeyPair(Hex(v, "seedR"));
        var e = Hpke.DeriveKeyPair(Hex(v, "seedE"));
        Assert.Equal(Hex(v, "skRm"), r.PrivateKey);
        Assert.Equal(Hex(v, "pkRm"), r.PublicKey);
        Assert.Equal(Hex(v, "skEm"), e.PrivateKey);
        Assert.Equal(Hex(v, "pkEm"), e.PublicKey);
    }

    [Theory, MemberData(nameof(Vectors))]
    public void SenderReproducesTheVectorsKeySchedule(int aead)
    {
        var v = Vector(aead);
        var suite = new Hpke((HpkeAead)aead);
        var (enc, context) = suite.SetupBaseSender(Hex(v, "pkRm"), Hex(v, "info"), X25519KeyPair.FromPrivateKey(Hex(v, "skEm")));
        using (context)
        {
            Assert.Equal(Hex(v, "enc"), enc);
            Assert.Equal(Hex(v, "key"), context.Key);
            Assert.Equal(Hex(v, "nonce"), context.BaseNonce.ToArray());
            Assert.Equal(Hex(v, "exporter_secret"), context.ExporterSecret.ToArray());
            foreach (var x in v.GetProperty("exports").EnumerateArray())
                Assert.Equal(Hex(x, "exportValue"), context.Export(Hex(x, "exportContext"), x.GetProperty("exportLength").GetInt32()));
        }
    }

    [Theory, MemberData(nameof(Vectors))]
    public void SenderSealsEachVectorMessageAtItsSequenceNumber(int aead)
    {
        var v = Vector(aead);
        var (_, context) = new Hpke((HpkeAead)aead).SetupBaseSender(Hex(v, "pkRm"), Hex(v, "info"), X25519KeyPair.FromPrivateKey(Hex(v, "skEm")));
        using (context)
        {
            foreach (var m in v.GetProperty("encryptions").EnumerateArray())
            {
                var seq = m.GetProperty("seq").GetUInt64();
                while (context.Sequence < seq) context.Seal([], []);
                Assert.Equal(Hex(m, "ciphertext"), context.Seal(Hex(m, "aad"), Hex(m, "plaintext")));
            }
        }
    }

    [Theory, MemberData(nameof(Vectors))]
    public void ReceiverOpensTheVectorMessagesInOrder(int aead)
    {
        var v = Vector(aead);
        using var context = new Hpke((HpkeAead)aead).SetupBaseReceiver(Hex(v, "enc"), X25519KeyPair.FromPrivateKey(Hex(v, "skRm")), Hex(v, "info"));
        var messages = v.GetProperty("encryptions").EnumerateArray().Take(3).ToList();
        foreach (var m in messages)
            Assert.Equal(Hex(m, "plaintext"), context.Open(Hex(m, "aad"), Hex(m, "ciphertext")));
        foreach (var x in v.GetProperty("exports").EnumerateArray())
            Assert.Equal(Hex(x, "exportValue"), context.Export(Hex(x, "exportContext"), 32));
    }

    [Fact]
    public void ReceiverRefusesAReplayedOrReorderedMessage()
    {
        var v = Vector(1);
        using var context = new Hpke(HpkeAead.Aes128Gcm).SetupBaseReceiver(Hex(v, "enc"), X25519KeyPair.FromPrivateKey(Hex(v, "skRm")), Hex(v, "info"));
        var first = v.GetProperty("encryptions")[0];
        var fifth = v.GetProperty("encryptions")[3]; // seq 4, offered at seq 0
        Assert.Null(context.Open(Hex(fifth, "aad"), Hex(fifth, "ciphertext")));
        Assert.Equal(0UL, context.Sequence);
        Assert.NotNull(context.Open(Hex(first, "aad"), Hex(first, "ciphertext")));
        Assert.Null(context.Open(Hex(first, "aad"), Hex(first, "ciphertext"))); // replay at seq 1
    }

    [Fact]
    public void ReceiverRefusesATamperedCiphertextOrAad()
    {
        var v = Vector(1);
        using var context = new Hpke(HpkeAead.Aes128Gcm).SetupBaseReceiver(Hex(v, "enc"), X25519KeyPair.FromPrivateKey(Hex(v, "skRm")), Hex(v, "info"));
        var m = v.GetProperty("encryptions")[0];
        var ct = Hex(m, "ciphertext");
        ct[3] ^= 1;
        Assert.Null(context.Open(Hex(m, "aad"), ct));
        Assert.Null(context.Open("Count-1"u8, Hex(m, "ciphertext")));
        Assert.Null(context.Open(Hex(m, "aad"), Hex(m, "ciphertext").AsSpan(0, 15)));
    }

    [Fact]
    public void AWrongRecipientKeyOrInfoDoesNotOpen()
    {
        var v = Vector(1);
        var m = v.GetProperty("encryptions")[0];
        using var wrongKey = new Hpke(HpkeAead.Aes128Gcm).SetupBaseReceiver(Hex(v, "enc"), X25519KeyPair.Generate(), Hex(v, "info"));
        using var wrongInfo = new Hpke(HpkeAead.Aes128Gcm).SetupBaseReceiver(Hex(v, "enc"), X25519KeyPair.FromPrivateKey(Hex(v, "skRm")), "ehbp request"u8);
        Assert.Null(wrongKey.Open(Hex(m, "aad"), Hex(m, "ciphertext")));
        Assert.Null(wrongInfo.Open(Hex(m, "aad"), Hex(m, "ciphertext")));
    }

    [Theory]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000")] // order 1: DH output is zero
    [InlineData("0100000000000000000000000000000000000000000000000000000000000000")] // order 1 (u = 1)
    [InlineData("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")] // order 8
    public void ASmallOrderEncapsulatedKeyIsRefused(string enc)
    {
        Assert.Throws<HpkeException>(() => Hpke.X25519Sha256Aes256Gcm.SetupBaseReceiver(Convert.FromHexString(enc), X25519KeyPair.Generate(), "ehbp request"u8));
    }

    [Fact]
    public void AnEncapsulatedKeyOfTheWrongLengthIsRefused()
    {
        Assert.Throws<HpkeException>(() => Hpke.X25519Sha256Aes256Gcm.SetupBaseReceiver(new byte[31], X25519KeyPair.Generate(), []));
        Assert.Throws<HpkeException>(() => Hpke.X25519Sha256Aes256Gcm.SetupBaseReceiver(new byte[33], X25519KeyPair.Generate(), []));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(32, 13)]
    [InlineData(33, 13)]
    [InlineData(100, 0)]
    [InlineData(8160, 40)]
    [InlineData(64, 700)] // a context too long for the stack buffers
    public void ExportsOfAnyLengthAreDotNetsHkdfExpandOfTheLabeledContext(int length, int contextLength)
    {
        var recipient = X25519KeyPair.Generate();
        var (_, sender) = Hpke.X25519Sha256Aes256Gcm.SetupBaseSender(recipient.PublicKey, "ehbp request"u8);
        using (sender)
        {
            var context = System.Security.Cryptography.RandomNumberGenerator.GetBytes(contextLength);
            byte[] info = [(byte)(length >> 8), (byte)length, .. "HPKE-v1"u8, .. "HPKE"u8, 0x00, 0x20, 0x00, 0x01, 0x00, 0x02, .. "sec"u8, .. context];
            var expected = System.Security.Cryptography.HKDF.Expand(System.Security.Cryptography.HashAlgorithmName.SHA256, sender.ExporterSecret.ToArray(), length, info);
            Assert.Equal(expected, sender.Export(context, length));
        }
    }

    [Fact]
    public void ARandomRoundTripOpensAndExportsTheSameOnBothSides()
    {
        var recipient = X25519KeyPair.Generate();
        var (enc, sender) = Hpke.X25519Sha256Aes256Gcm.SetupBaseSender(recipient.PublicKey, "ehbp request"u8);
        using var receiver = Hpke.X25519Sha256Aes256Gcm.SetupBaseReceiver(enc, recipient, "ehbp request"u8);
        for (var i = 0; i < 3; i++)
            Assert.Equal(new[] { (byte)i, (byte)7 }, receiver.Open([], sender.Seal([], [(byte)i, 7])));
        Assert.Equal(sender.Export("ehbp response", 32), receiver.Export("ehbp response", 32));
        sender.Dispose();
    }
}
