namespace TeeAspire.Attestation.Verifier.Cli;

/// <summary>Exit codes and the one place exceptions become a message (never a stack trace).</summary>
public static class Cli
{
    public const int Verified = 0;
    public const int Refused = 1;
    public const int BadInput = 2;

    public static async Task<int> Run(Func<Task<int>> command)
    {
        try
        {
            return await command();
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine("error: " + e.Message);
            return BadInput;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled or timed out");
            return BadInput;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            return BadInput;
        }
    }
}

/// <summary>A command-line input that cannot be used (missing file, bad hex, bad URL): exit 2 with the message.</summary>
public sealed class UsageException(string message) : Exception(message);
