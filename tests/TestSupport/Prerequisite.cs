namespace TeeAspire.TestSupport;

/// <summary>Finds the real programs the tests run, or fails saying how to install them.</summary>
public static class Prerequisite
{
    public static string Require(string program, string aptPackage)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                     .Concat(["/usr/sbin", "/usr/bin", "/usr/local/bin"]))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException(
            $"This test needs '{program}', which is not installed. Install it with: sudo apt-get install -y {aptPackage}");
    }
}
