using System.Security.Cryptography;
using TeeAspire.Attestation.Verifier.Sealing;

namespace TeeAspire.Attestation.Verifier.Tests.Sealing;

/// <summary>
/// Sealing's AES-256-GCM on both paths — libsodium's (CPUs with AES-NI, this machine) and .NET's
/// (every other CPU) — against the GCM specification's test case 16 (McGrew and Viega, "The
/// Galois/Counter Mode of Operation", AES-256, 96-bit IV, with AAD) and against each other.
/// </summary>
public sealed class Aes256GcmTests
{
    private static readonly byte[] Key = Convert.FromHexString("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    private static readonly byte[] Nonce = Convert.FromHexString("cafebabefacedbaddecaf888");
    private static readonly byte[] Plain = Convert.FromHexString("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    private static readonly byte[] Aad = Convert.FromHexString("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    private static readonly byte[] Cipher = Convert.FromHexString("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662");
    private static readonly byte[] Tag = Convert.FromHexString("76fc6ece0f4e1768cddf8853bb2d551b");

    public static TheoryData<bool> Paths() => Sodium.HasAes256Gcm ? new TheoryData<bool> { true, false } : new TheoryData<bool> { false };

    [Theory]
    [MemberData(nameof(Paths))]
    public void SealsAndOpensTheSpecsTestCase(bool libsodium)
    {
        using var gcm = new Aes256Gcm(Key, libsodium);
        var cipher = new byte[Plain.Length];
        var tag = new byte[16];
        gcm.Encrypt(Nonce, Plain, cipher, tag, Aad);
        Assert.Equal(Cipher, cipher);
        Assert.Equal(Tag, tag);

        var plain = new byte[Cipher.Length];
        Assert.True(gcm.TryDecrypt(Nonce, Cipher, Tag, plain, Aad));
        Assert.Equal(Plain, plain);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void AChangedByteOfCiphertextTagOrAadDoesNotOpen(bool libsodium)
    {
        using var gcm = new Aes256Gcm(Key, libsodium);
        foreach (var (cipher, tag, aad) in new[]
        {
            (Flip(Cipher, 17), Tag, Aad),
            (Cipher, Flip(Tag, 15), Aad),
            (Cipher, Tag, Flip(Aad, 0)),
        })
        {
            var plain = new byte[cipher.Length];
            Assert.False(gcm.TryDecrypt(Nonce, cipher, tag, plain, aad));
            Assert.All(plain, b => Assert.Equal(0, b));
        }
    }

    [Fact]
    public void BothPathsAgreeOnRandomInputsOfEveryLengthUpToThreeBlocks()
    {
        if (!Sodium.HasAes256Gcm) return; // only one path here: the spec's vector covers it
        var key = RandomNumberGenerator.GetBytes(32);
        using var sodium = new Aes256Gcm(key, libsodium: true);
        using var dotnet = new Aes256Gcm(key, libsodium: false);
        for (var length = 0; length <= 48; length++)
        {
            var nonce = RandomNumberGenerator.GetBytes(12);
            var plain = RandomNumberGenerator.GetBytes(length);
            var aad = RandomNumberGenerator.GetBytes(length % 7);
            var (c1, t1, c2, t2) = (new byte[length], new byte[16], new byte[length], new byte[16]);
            sodium.Encrypt(nonce, plain, c1, t1, aad);
            dotnet.Encrypt(nonce, plain, c2, t2, aad);
            Assert.Equal(c2, c1);
            Assert.Equal(t2, t1);
            var opened = new byte[length];
            Assert.True(dotnet.TryDecrypt(nonce, c1, t1, opened, aad));
            Assert.Equal(plain, opened);
        }
    }

    [Fact]
    public void ADisposedInstanceRefuses()
    {
        var gcm = new Aes256Gcm(Key);
        gcm.Dispose();
        Assert.Throws<ObjectDisposedException>(() => gcm.Encrypt(Nonce, Plain, new byte[Plain.Length], new byte[16], Aad));
    }

    private static byte[] Flip(byte[] bytes, int index)
    {
        var copy = (byte[])bytes.Clone();
        copy[index] ^= 0x01;
        return copy;
    }
}
