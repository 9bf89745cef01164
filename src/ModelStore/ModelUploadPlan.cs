namespace Serverless.ModelStore;

/// <summary>What <see cref="ModelUploader.Plan"/> chose in a local folder: the files to upload and the ones left out,
/// as '/'-separated paths relative to <see cref="Root"/>.</summary>
public sealed record ModelUploadPlan(string Root, IReadOnlyList<string> Files, IReadOnlyList<string> Skipped);
