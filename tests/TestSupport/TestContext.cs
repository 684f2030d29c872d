namespace TeeAspire.TestSupport;

/// <summary>
/// xunit v2 has no per-test cancellation token; every await in a test takes this one, which
/// fires after a generous bound so a hang fails the test instead of stalling CI.
/// </summary>
public static class TestContext
{
    public static CancellationToken Current => new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token;
}
