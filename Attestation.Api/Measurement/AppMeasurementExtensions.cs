using Attestation.Api;
using Attestation.Api.Measurement;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

public static class AppMeasurementExtensions
{
    /// <summary>The measured launch's event log, served with every report (<c>Attestation:AppEventLog</c>, <c>Attestation:AppPcr</c>).</summary>
    public static IHostApplicationBuilder AddAppMeasurement(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AppMeasurementOptions>().Bind(builder.Configuration.GetSection(AttestationOptions.Section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AppMeasurementOptions>, AppMeasurementOptionsValidation>();
        builder.Services.AddSingleton<AppEventLog>();
        return builder;
    }
}
