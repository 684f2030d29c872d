using TeeAspire.Contracts;

namespace Inference.Worker.Model;

/// <summary>One request's fixed facts.</summary>
/// <param name="Nonce">the client's <c>x-answer-nonce</c> (lowercase hex) or null; signed with the answer</param>
/// <param name="ReservedTokens">what the gateway's admission took from the key's token budget (<c>x-tee-tokens-reserved</c>); the debit subtracts it</param>
public sealed record Call(string Id, string KeyId, ChatRequest Request, string OllamaModel, byte[] OllamaBody, string RequestSha256, string? Nonce, long StartedTimestamp, long ReservedTokens = 0)
{
    /// <summary>The <c>created</c> every chunk or the completion carries, and the one signed.</summary>
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
