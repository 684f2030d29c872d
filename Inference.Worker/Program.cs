using Inference.Worker.Apis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddInferenceServices();

var app = builder.Build();
app.WarmUpInference();
app.UseInternalTokenAuthentication();

app.MapInferenceApi();
app.MapDefaultEndpoints(detailed: true);

app.Run();

public partial class Program;
