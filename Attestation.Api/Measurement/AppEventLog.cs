using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace Attestation.Api.Measurement;

/// <summary>The <c>Attestation</c> settings of the measured launch.</summary>
public sealed class AppMeasurementOptions
{
    /// <summary>The event log the measured launch writes (JSON lines); empty: no app measurement.</summary>
    public string? AppEventLog { get; set; }

    /// <summary>The PCR the launch extends; must be among the quoted PCRs.</summary>
    public int AppPcr { get; set; } = 13;
}

/// <summary>
/// Serves the measured launch's event log (deploy/launch/measured-launch.sh) with every report,
/// read fresh each time because the watcher appends "unexpected" events. The log is passed on as
/// written — one JSON value per line, a line that is not JSON as a string — so a damaged log is
/// refused by the verifier's replay, never hidden here.
/// </summary>
public sealed partial class AppEventLog(IOptions<AppMeasurementOptions> options, ILogger<AppEventLog> logger)
{
    private const int MaxBytes = 1 << 20;

    public bool Enabled => !string.IsNullOrWhiteSpace(options.Value.AppEventLog);

    /// <summary>The events as a JSON array, or null when not configured or not (yet) written.</summary>
    public JsonArray? Read()
    {
        if (!Enabled) return null;
        try
        {
            var info = new FileInfo(options.Value.AppEventLog!);
            if (!info.Exists) return null;
            if (info.Length > MaxBytes) return [JsonValue.Create("the event log exceeds 1 MiB")];
            var events = new JsonArray();
            foreach (var line in File.ReadAllLines(info.FullName))
            {
                if (line.Length == 0) continue;
                events.Add(Parse(line));
            }
            return events;
        }
        catch (IOException e)
        {
            LogUnreadable(e.GetType().Name);
            return null;
        }
        catch (UnauthorizedAccessException e)
        {
            LogUnreadable(e.GetType().Name);
            return null;
        }
    }

    private static JsonNode Parse(string line)
    {
        try
        {
            return JsonNode.Parse(line) ?? JsonValue.Create(line);
        }
        catch (JsonException)
        {
            return JsonValue.Create(line);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The app event log cannot be read: {Error}")]
    private partial void LogUnreadable(string error);
}

/// <summary>Refuses to start when the app PCR would not be quoted.</summary>
public sealed class AppMeasurementOptionsValidation(IOptions<AttestationOptions> attestation) : IValidateOptions<AppMeasurementOptions>
{
    public ValidateOptionsResult Validate(string? name, AppMeasurementOptions options) =>
        options.AppPcr is < 0 or > 23
            ? ValidateOptionsResult.Fail("Attestation:AppPcr must be 0–23")
            : !string.IsNullOrWhiteSpace(options.AppEventLog) && !attestation.Value.Tpm.Pcrs.Contains(options.AppPcr)
                ? ValidateOptionsResult.Fail($"Attestation:Tpm:Pcrs must include the app PCR {options.AppPcr} when Attestation:AppEventLog is set")
                : ValidateOptionsResult.Success;
}
