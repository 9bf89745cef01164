using Serverless.Inference;
using Serverless.ModelStore;

namespace Serverless.Jobs.Models;

/// <summary>
/// The last permanent reason this instance could not load the model (nothing uploaded, an incomplete or damaged upload,
/// files the engine cannot read, access denied), recorded by the model sources on every acquire and cleared by the next
/// success. <c>/api/health</c> reads it to report "not ready to serve" without loading anything itself.
/// </summary>
internal sealed class ModelReadiness
{
    private volatile string? _error;

    /// <summary>Why the model cannot be loaded until someone acts; null when the last acquire succeeded or failed transiently.</summary>
    public string? Error => _error;

    public void Succeeded() => _error = null;

    /// <summary>Records <paramref name="e"/> when it is permanent (see <see cref="IsPermanent"/>); a transient failure leaves the state as it was.</summary>
    public void Failed(Exception e)
    {
        if (IsPermanent(e)) _error = e.Message;
    }

    /// <summary>True for a model error that trying again cannot fix: a model store error that is not transient, or a
    /// model the engine cannot read (<see cref="ModelFormatException"/>).</summary>
    public static bool IsPermanent(Exception e) => e is ModelStoreException { IsTransient: false } or ModelFormatException;
}
