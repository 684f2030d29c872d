using System.Buffers;
using Microsoft.AspNetCore.Http;

namespace TeeAspire.Contracts;

/// <summary>The one way a service reads a request body it must hold whole: capped once, copied once.</summary>
public static class RequestBodies
{
    /// <summary>
    /// The body, or null if it is longer than <paramref name="max"/>: a declared length is refused
    /// before reading and read straight into the final array; a chunked body is counted while read.
    /// </summary>
    public static async Task<byte[]?> ReadCappedAsync(HttpRequest request, long max, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ContentLength is { } length)
        {
            if (length > max) return null;
            // Kestrel ends the body at the declared length.
            var exact = new byte[length];
            await request.Body.ReadExactlyAsync(exact, cancellationToken);
            return exact;
        }
        var buffer = new ArrayBufferWriter<byte>((int)Math.Min(4096, max) + 1);
        while (true)
        {
            var memory = buffer.GetMemory(8192);
            var read = await request.Body.ReadAsync(memory, cancellationToken);
            if (read == 0) return buffer.WrittenSpan.ToArray();
            buffer.Advance(read);
            if (buffer.WrittenCount > max) return null;
        }
    }
}
