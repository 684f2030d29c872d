using System.Net;
using TeeAspire.Attestation.Verifier.Sealing;

namespace TeeAspire.Attestation.Verifier.Tests.Sealing;

/// <summary>Sender contexts prepared ahead: each from its own ephemeral key, handed out once, never for a key other than the one asked for.</summary>
public sealed class HpkeSenderPoolTests
{
    private static readonly byte[] Info = "ehbp request"u8.ToArray();

    private static void AssertOpensFor(X25519KeyPair recipient, byte[] enc, HpkeContext sender)
    {
        using var receiver = Hpke.X25519Sha256Aes256Gcm.SetupBaseReceiver(enc, recipient, Info);
        Assert.Equal("sealed"u8.ToArray(), receiver.Open([], sender.Seal([], "sealed"u8)));
        Assert.Equal(sender.Export("ehbp response", 32), receiver.Export("ehbp response", 32));
    }

    [Fact]
    public void EveryTakenContextHasItsOwnEphemeralKey()
    {
        var recipient = X25519KeyPair.Generate();
        using var pool = new HpkeSenderPool(Hpke.X25519Sha256Aes256Gcm, recipient.PublicKey, Info, capacity: 4);
        var taken = new System.Collections.Concurrent.ConcurrentBag<(byte[] Enc, HpkeContext Context)>();

        // Takes and preparations from several threads at once, as concurrent requests through one handler do.
        Parallel.For(0, 400, new ParallelOptions { MaxDegreeOfParallelism = 4 }, _ =>
        {
            taken.Add(pool.Take(recipient.PublicKey));
            pool.Prepare();
        });

        Assert.Equal(400, taken.Select(t => Convert.ToHexString(t.Enc)).Distinct().Count());
        Assert.Equal(400, taken.Select(t => Convert.ToHexString(t.Context.BaseNonce)).Distinct().Count());
        foreach (var (enc, context) in taken.Take(20))
            using (context) AssertOpensFor(recipient, enc, context);
    }

    [Fact]
    public void PreparedContextsAreUsedEachOnlyOnceUpToTheCapacity()
    {
        var recipient = X25519KeyPair.Generate();
        using var pool = new HpkeSenderPool(Hpke.X25519Sha256Aes256Gcm, recipient.PublicKey, Info, capacity: 3);
        for (var i = 0; i < 5; i++) pool.Prepare();
        Assert.Equal(3, pool.Ready);

        var encs = new HashSet<string>();
        for (var i = 0; i < 5; i++)
        {
            var (enc, context) = pool.Take(recipient.PublicKey);
            using (context) AssertOpensFor(recipient, enc, context);
            Assert.True(encs.Add(Convert.ToHexString(enc)));
            Assert.Equal(Math.Max(0, 2 - i), pool.Ready);
        }
    }

    [Fact]
    public void AChangedRecipientKeyDiscardsWhatWasPreparedForTheOldOne()
    {
        var (oldKey, newKey) = (X25519KeyPair.Generate(), X25519KeyPair.Generate());
        using var pool = new HpkeSenderPool(Hpke.X25519Sha256Aes256Gcm, oldKey.PublicKey, Info, capacity: 4);
        for (var i = 0; i < 4; i++) pool.Prepare();
        Assert.Equal(4, pool.Ready);

        // Four contexts for the old key were waiting: the first request for the new key discards them all.
        var (enc, context) = pool.Take(newKey.PublicKey);
        using (context) AssertOpensFor(newKey, enc, context);
        Assert.Equal(0, pool.Ready);

        // What is prepared from now on is for the new key.
        pool.Prepare();
        var (next, nextContext) = pool.Take(newKey.PublicKey);
        using (nextContext) AssertOpensFor(newKey, next, nextContext);
    }

    [Fact]
    public void ADisposedPoolHandsOutNothingAndPreparesNothing()
    {
        var recipient = X25519KeyPair.Generate();
        var pool = new HpkeSenderPool(Hpke.X25519Sha256Aes256Gcm, recipient.PublicKey, Info);
        pool.Prepare();
        pool.Dispose();
        pool.Prepare();
        Assert.Equal(0, pool.Ready);
        Assert.Throws<ObjectDisposedException>(() => pool.Take(recipient.PublicKey));
    }

    [Fact]
    public async Task TheHandlerSealsEveryRequestWithAFreshEncapsulatedKeyThatTheServerOpens()
    {
        var server = X25519KeyPair.Generate();
        var seen = new List<(string Enc, byte[] Body)>();
        using var http = new HttpClient(new EhbpHandler(server.PublicKey, new Recorder(seen)));

        for (var i = 0; i < 6; i++)
        {
            using var response = await http.PostAsync("http://gateway.test/v1/chat/completions", new StringContent($"prompt {i}"), TestContext.Current);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        Assert.Equal(6, seen.Select(s => s.Enc).Distinct().Count());
        for (var i = 0; i < seen.Count; i++)
        {
            using var receiver = Hpke.X25519Sha256Aes256Gcm.SetupBaseReceiver(Convert.FromHexString(seen[i].Enc), server, Info);
            Assert.Equal(System.Text.Encoding.UTF8.GetBytes($"prompt {i}"), receiver.Open([], seen[i].Body.AsSpan(Ehbp.LengthPrefix)));
        }
    }

    /// <summary>Records each sealed request and answers 401 without sealing (as an intermediary would).</summary>
    private sealed class Recorder(List<(string Enc, byte[] Body)> seen) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            seen.Add((request.Headers.GetValues(Ehbp.EncapsulatedKeyHeader).Single(), await request.Content!.ReadAsByteArrayAsync(cancellationToken)));
            return new HttpResponseMessage(HttpStatusCode.Unauthorized);
        }
    }

    [Fact]
    public void AKeyOfTheWrongLengthIsRefused()
    {
        Assert.Throws<HpkeException>(() => new HpkeSenderPool(Hpke.X25519Sha256Aes256Gcm, new byte[31], Info));
        using var pool = new HpkeSenderPool(Hpke.X25519Sha256Aes256Gcm, X25519KeyPair.Generate().PublicKey, Info);
        Assert.Throws<HpkeException>(() => pool.Take(new byte[33]));
    }
}
