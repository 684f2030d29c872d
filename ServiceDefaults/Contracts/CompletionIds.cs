using TeeAspire.Attestation.Verifier;

namespace TeeAspire.Contracts;

/// <summary>Completion ids (<c>chatcmpl-</c> + 1–64 letters or digits), the pattern the answer statement fixes.</summary>
public static class CompletionIds
{
    public static string New() => "chatcmpl-" + Guid.NewGuid().ToString("N")[..24];

    public static bool IsValid(string value) => AnswerStatement.IsCompletionId(value);
}
