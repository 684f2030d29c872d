namespace TeeAspire.Attestation.Verifier;

/// <summary>One check and why it passed or failed.</summary>
public sealed record CheckResult(string Name, bool Passed, string Reason)
{
    public static CheckResult Pass(string name, string reason) => new(name, true, reason);
    public static CheckResult Fail(string name, string reason) => new(name, false, reason);
}
