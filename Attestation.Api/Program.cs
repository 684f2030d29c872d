using Attestation.Api.Apis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddAttestationServices();

var app = builder.Build();
app.WarmUpAttestation();
app.UseInternalTokenAuthentication();

app.MapReportApi();
app.MapKeysApi();
app.MapSignatureApi();
app.MapDefaultEndpoints();

app.Run();

public partial class Program;
