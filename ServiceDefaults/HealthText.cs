using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// <c>/health</c> as plain text: the overall status on the first line (what the default writer
/// prints, so probes reading the body keep working), then one line per check, <c>name: Status —
/// description</c>. Descriptions are the checks' own operational text, never request content.
/// </summary>
public static class HealthText
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        var lines = new List<string> { report.Status.ToString() };
        foreach (var (name, entry) in report.Entries)
            lines.Add(entry.Description is { Length: > 0 } d ? $"{name}: {entry.Status} — {d}" : $"{name}: {entry.Status}");
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(string.Join('\n', lines) + "\n", context.RequestAborted);
    }
}
