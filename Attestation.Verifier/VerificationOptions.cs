using System.Security.Cryptography.X509Certificates;

namespace TeeAspire.Attestation.Verifier;

/// <summary>
/// What the caller's own code (or command line) gives the verifier: trust anchors, collateral, the
/// verification time, and the one insecure switch. Never read from a policy file or a report.
/// </summary>
public sealed class VerificationOptions
{
    /// <summary>
    /// Accept evidence with no hardware root (a software TPM: developer machines, CI, swtpm). The
    /// result is then marked <see cref="VerificationResult.Insecure"/> and must be shown loudly.
    /// </summary>
    public bool AllowInsecurePlatform { get; init; }

    /// <summary>Intel SGX Root CA: the anchor of TD quotes' PCK chains and of the TCB signing chain.</summary>
    public X509Certificate2? IntelRoot { get; init; }

    /// <summary>AMD ARK for SEV-SNP reports (VCEK → ASK → ARK).</summary>
    public X509Certificate2? AmdArk { get; init; }

    /// <summary>Roots for the IMDS attested document's signer; empty: the system trust store.</summary>
    public IReadOnlyList<X509Certificate2> ImdsRoots { get; init; } = [];

    /// <summary>A DCAP collateral bundle (tests/vectors/README.md, "A collateral bundle"), as text.</summary>
    public string? CollateralJson { get; init; }

    /// <summary>Intel PCS TCB info alone (<c>/tdx/certification/v4/tcb</c> body): reports the TCB status beside the checks.</summary>
    public string? TdxTcbInfo { get; init; }

    /// <summary>The time certificates, CRLs and collateral must be valid at; null: now.</summary>
    public DateTimeOffset? Now { get; init; }

    /// <summary>A copy with another collateral bundle.</summary>
    public VerificationOptions With(string collateralJson) => new()
    {
        AllowInsecurePlatform = AllowInsecurePlatform, IntelRoot = IntelRoot, AmdArk = AmdArk, ImdsRoots = ImdsRoots,
        CollateralJson = collateralJson, TdxTcbInfo = TdxTcbInfo, Now = Now,
    };

    /// <summary>The defaults: hardware evidence required, no anchors (TD quotes then fail their chain check).</summary>
    public static VerificationOptions Default { get; } = new();
}
