namespace TeeAspire.Attestation.Verifier;

/// <summary>One check and why it passed or failed. Names are a contract shared with the browser module and the corpus (README, "Checks").</summary>
public sealed record CheckResult(string Name, bool Passed, string Reason)
{
    public static CheckResult Pass(string name, string reason) => new(name, true, reason);
    public static CheckResult Fail(string name, string reason) => new(name, false, reason);
}

/// <summary>The outcome of verifying a report: every check with its reason, and what was proven.</summary>
public sealed record VerificationResult(IReadOnlyList<CheckResult> Checks)
{
    /// <summary>The platform the evidence proves: <c>azure-tdx</c>, <c>azure-snp</c>, or <c>none</c> (no hardware root).</summary>
    public string Platform { get; init; } = "none";

    /// <summary>True when the result passed only because the caller allowed an insecure platform.</summary>
    public bool Insecure { get; init; }

    /// <summary>The key set the evidence binds (digest recomputed), when it parsed.</summary>
    public KeySet? KeySet { get; init; }

    /// <summary>The PCR values the TPM quote covers (its selection, checked against its digest).</summary>
    public IReadOnlyDictionary<int, byte[]> QuotedPcrs { get; init; } = new Dictionary<int, byte[]>();

    /// <summary>The TD's measurements from the verified TD quote, when there is one.</summary>
    public TdMeasurements? Td { get; init; }

    /// <summary>The TDX TCB status under the given TCB info, reported beside the checks (null if not evaluated).</summary>
    public TcbStatus? Tcb { get; init; }

    /// <summary>VERIFIED: at least one check ran and all passed.</summary>
    public bool Passed => Checks.Count > 0 && Checks.All(c => c.Passed);

    /// <summary>The names of the failed checks, in order.</summary>
    public IEnumerable<string> Failed => Checks.Where(c => !c.Passed).Select(c => c.Name);
}
