using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;

namespace Inference.Worker.Responses;

/// <summary>
/// Everything the worker writes to the client goes through here: each piece is hashed (SHA-256 of
/// every byte sent) and flushed at once, so tokens are never held back.
/// </summary>
public sealed class ResponseSink(HttpResponse response) : IDisposable
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private Utf8JsonWriter? _json;

    public bool Started { get; private set; }
    public long BytesWritten { get; private set; }

    /// <summary>A JSON writer over a fresh buffer; finish with <see cref="SendEventAsync"/> or <see cref="SendJsonAsync"/>.</summary>
    public Utf8JsonWriter BeginJson()
    {
        _buffer.ResetWrittenCount();
        if (_json is null) _json = new Utf8JsonWriter(_buffer);
        else _json.Reset(_buffer);
        return _json;
    }

    /// <summary>Sends the JSON just written as one SSE event: <c>data: {…}\n\n</c>.</summary>
    public async ValueTask SendEventAsync(CancellationToken cancellationToken)
    {
        _json!.Flush();
        var json = _buffer.WrittenMemory;
        var total = DataPrefix.Length + json.Length + EventEnd.Length;
        var memory = response.BodyWriter.GetMemory(total);
        DataPrefix.CopyTo(memory);
        json.CopyTo(memory[DataPrefix.Length..]);
        EventEnd.CopyTo(memory[(DataPrefix.Length + json.Length)..]);
        _hash.AppendData(memory.Span[..total]);
        response.BodyWriter.Advance(total);
        await FlushAsync(total, cancellationToken);
    }

    /// <summary>The JSON just written, as bytes (for a non-stream body that is signed before it is sent).</summary>
    public ReadOnlyMemory<byte> TakeJson()
    {
        _json!.Flush();
        return _buffer.WrittenMemory;
    }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        _hash.AppendData(bytes.Span);
        await response.BodyWriter.WriteAsync(bytes, cancellationToken);
        BytesWritten += bytes.Length;
        Started = true;
    }

    /// <summary>lowercase hex SHA-256 of everything sent so far.</summary>
    public string Digest() => Convert.ToHexStringLower(_hash.GetCurrentHash());

    public static string Digest(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private async ValueTask FlushAsync(int count, CancellationToken cancellationToken)
    {
        BytesWritten += count;
        Started = true;
        await response.BodyWriter.FlushAsync(cancellationToken);
    }

    public void Dispose()
    {
        _hash.Dispose();
        _json?.Dispose();
    }
}
