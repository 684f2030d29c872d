namespace TeeAspire.Attestation.Verifier;

/// <summary>
/// The TD's identity as a verified TD quote states it (TD quote body, Intel TDX DCAP Quoting
/// Library API, A.3.2): which SEAM module, which TD image (MRTD), its runtime measurements
/// (RTMR0–3), attributes (debug) and XFAM.
/// </summary>
public sealed class TdMeasurements
{
    /// <summary>The TD quote body's size before the TDX 1.5 additions (v4 body).</summary>
    public const int BodySize = 584;

    private readonly byte[] _body;

    /// <param name="body">a verified TD quote body (584 or 648 bytes)</param>
    public TdMeasurements(ReadOnlySpan<byte> body)
    {
        if (body.Length < BodySize) throw new EvidenceFormatException("TD quote body: shorter than 584 bytes");
        _body = body[..BodySize].ToArray();
    }

    public ReadOnlySpan<byte> TeeTcbSvn => _body.AsSpan(0, 16);
    public ReadOnlySpan<byte> MrSeam => _body.AsSpan(16, 48);
    public ReadOnlySpan<byte> MrSignerSeam => _body.AsSpan(64, 48);
    public ReadOnlySpan<byte> SeamAttributes => _body.AsSpan(112, 8);
    public ReadOnlySpan<byte> TdAttributes => _body.AsSpan(120, 8);
    public ReadOnlySpan<byte> Xfam => _body.AsSpan(128, 8);
    public ReadOnlySpan<byte> Mrtd => _body.AsSpan(136, 48);

    /// <summary>MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG and RTMR0–3, contiguous (body 136..520).</summary>
    public ReadOnlySpan<byte> TdInfoMeasurements => _body.AsSpan(136, 384);
    public ReadOnlySpan<byte> Rtmr(int i) => _body.AsSpan(328 + 48 * i, 48);
    public ReadOnlySpan<byte> ReportData => _body.AsSpan(520, 64);

    /// <summary>TDATTRIBUTES bit 0: the TD runs in debug mode (the host can read and change its memory).</summary>
    public bool Debug => (_body[120] & 1) != 0;

    /// <summary>A policy field's value, lowercase hex (<see cref="VerificationPolicy.TdFields"/>).</summary>
    public string Field(string name) => Convert.ToHexStringLower(name switch
    {
        "mrtd" => Mrtd,
        "rtmr0" => Rtmr(0),
        "rtmr1" => Rtmr(1),
        "rtmr2" => Rtmr(2),
        "rtmr3" => Rtmr(3),
        "mrseam" => MrSeam,
        "td_attributes" => TdAttributes,
        "xfam" => Xfam,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "not a TD policy field"),
    });

    /// <summary>The byte size of a policy field.</summary>
    public static int Size(string name) => name is "td_attributes" or "xfam" ? 8 : 48;
}
