using System.Text.Json.Nodes;

namespace TeeAspire.TestSupport;

/// <summary>Reads a server-sent event stream the way a client does: one <c>data:</c> payload per event.</summary>
public static class Sse
{
    public static async IAsyncEnumerable<string> ReadDataAsync(HttpResponseMessage response, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal)) yield return line["data: ".Length..];
        }
    }

    public static async Task<List<string>> ReadAllAsync(HttpResponseMessage response, CancellationToken cancellationToken = default)
    {
        var all = new List<string>();
        await foreach (var data in ReadDataAsync(response, cancellationToken)) all.Add(data);
        return all;
    }

    public static JsonNode Json(string data) => JsonNode.Parse(data)!;
}
