namespace TeeAspire.TestSupport;

/// <summary>The internal token every test host of the worker, attestation service and gateway shares.</summary>
public static class InternalAuth
{
    public const string Setting = "Attestation:InternalToken";
    public const string Header = "x-tee-internal-token";
    public const string Token = "internal-token-for-tests-0123456789abcdef";
}
