using System.CommandLine;
using System.Text.Json;

namespace TeeAspire.Attestation.Verifier.Cli;

/// <summary>
/// <c>tee-verify release-compose COMPOSE --env release.env [--secret NAME]… [--image REF=sha256:HEX]… [--pin-to FILE] [--list]</c>:
/// the compose file read by the launch's rule (<see cref="ComposeRelease"/>), for scripts/release.sh.
/// Prints the services' images as a JSON object (service → image); with <c>--pin-to</c>, pins the
/// given references in place, writes the file and prints the pinned file's reading; with
/// <c>--list</c>, accepts references not pinned yet (to find what to pin). Exit 2 and a reason on
/// anything refused.
/// </summary>
public static class ReleaseComposeCommand
{
    public static Command Create()
    {
        var compose = new Argument<FileInfo>("compose") { Description = "The compose file (aspire publish output)" };
        var env = new Option<FileInfo>("--env") { Description = "The release's non-secret configuration (release.env)", Required = true };
        var secrets = new Option<string[]>("--secret") { Description = "A Compose variable the unmeasured secrets file sets (allowed only in a service's environment)", AllowMultipleArgumentsPerToken = false };
        var images = new Option<string[]>("--image") { Description = "REF=sha256:<hex>: the digest of an image written REF in the compose file" };
        var pinTo = new Option<FileInfo?>("--pin-to") { Description = "Write the compose file with the images pinned here" };
        var list = new Option<bool>("--list") { Description = "Accept images not pinned by digest (list what to pin)" };
        var command = new Command("release-compose", "Read a release's compose file by the measured launch's rule: the services and their images, or why it is refused") { compose, env, secrets, images, pinTo, list };
        command.SetAction((parse, ct) => Cli.Run(() => RunAsync(parse.GetValue(compose)!, parse.GetValue(env)!, parse.GetValue(secrets) ?? [], parse.GetValue(images) ?? [], parse.GetValue(pinTo), parse.GetValue(list), ct)));
        return command;
    }

    public static async Task<int> RunAsync(FileInfo compose, FileInfo env, string[] secrets, string[] images, FileInfo? pinTo, bool list, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(compose);
        ArgumentNullException.ThrowIfNull(env);
        var text = await ReadAsync(compose, ct);
        if (!ComposeRelease.TryReadEnvFile(await ReadAsync(env, ct), out var variables, out var envError)) return Refuse("release.env: " + envError);
        if (secrets.FirstOrDefault(variables.ContainsKey) is { } both) return Refuse($"release.env sets the secret variable {both}");
        var digests = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in images)
        {
            var eq = pair.LastIndexOf('=');
            if (eq <= 0 || !AppMeasurement.IsImageDigest(pair[(eq + 1)..])) return Refuse($"--image {pair}: not REF=sha256:<64 lowercase hex>");
            digests[pair[..eq]] = pair[(eq + 1)..];
        }
        if (pinTo is not null)
        {
            var unpinned = ComposeRelease.Read(text, variables, secrets, requirePinned: false);
            if (unpinned.Problem is not null) return Refuse(unpinned.Problem);
            text = ComposeRelease.Pin(text, unpinned.Services, digests, out var pinError) ?? "";
            if (pinError is not null) return Refuse(pinError);
        }
        var reading = ComposeRelease.Read(text, variables, secrets, requirePinned: !list);
        if (reading.Problem is not null) return Refuse(reading.Problem);
        if (pinTo is not null) await File.WriteAllTextAsync(pinTo.FullName, text, ct);
        var map = reading.Services.ToDictionary(s => s.Name, s => s.Image, StringComparer.Ordinal);
        Console.WriteLine(JsonSerializer.Serialize(map, ServicesJson.Default.DictionaryStringString));
        return 0;
    }

    private static async Task<string> ReadAsync(FileInfo file, CancellationToken ct)
    {
        if (!file.Exists) throw new UsageException($"{file.FullName} does not exist");
        if (file.Length > ComposeRelease.MaxBytes) throw new UsageException($"{file.FullName} is larger than {ComposeRelease.MaxBytes} bytes");
        return await File.ReadAllTextAsync(file.FullName, ct);
    }

    private static int Refuse(string reason)
    {
        Console.Error.WriteLine("refused: " + reason);
        return Cli.BadInput;
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class ServicesJson : System.Text.Json.Serialization.JsonSerializerContext;
