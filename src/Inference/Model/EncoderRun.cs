using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;

namespace Serverless.Inference.Model;

/// <summary>One encoder pass over a batch of prompts, as the decoder stepper takes its output.</summary>
internal static class EncoderRun
{
    /// <summary>
    /// Runs the encoder over the right-padded <paramref name="prompts"/>; returns <c>last_hidden_state</c> and the attention
    /// mask, each repeated <paramref name="repeat"/> times per prompt (beam search) as OrtValues the caller owns.
    /// </summary>
    /// <param name="model">The model whose encoder runs.</param>
    /// <param name="prompts">Each prompt's ids.</param>
    /// <param name="repeat">Rows per prompt (num_beams).</param>
    /// <param name="runTicks">Stopwatch ticks spent in ONNX Runtime.</param>
    public static (OrtValue Hidden, OrtValue Mask) Run(T5Model model, IReadOnlyList<int[]> prompts, int repeat, out long runTicks)
    {
        var batch = prompts.Count;
        var length = 0;
        foreach (var p in prompts)
            length = Math.Max(length, p.Length);

        var ids = new long[batch * length];
        var mask = new long[batch * length];
        ids.AsSpan().Fill(model.Config.PadTokenId);
        for (var b = 0; b < batch; b++)
        {
            var row = prompts[b];
            for (var t = 0; t < row.Length; t++)
            {
                ids[b * length + t] = row[t];
                mask[b * length + t] = 1;
            }
        }

        var start = Stopwatch.GetTimestamp();
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [batch, length]);
        var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [batch, length]);
        OrtValue hidden;
        try
        {
            using var runOptions = new RunOptions();
            IDisposableReadOnlyCollection<OrtValue> outputs;
            try
            {
                outputs = model.Encoder.Run(runOptions, ["input_ids", "attention_mask"], [idsValue, maskValue], ["last_hidden_state"]);
            }
            catch (OnnxRuntimeException e)
            {
                throw new InferenceException($"ONNX Runtime failed to run the encoder of the model in '{model.Files.Directory}': {e.Message}", e);
            }
            hidden = outputs[0];
        }
        catch
        {
            maskValue.Dispose();
            throw;
        }
        runTicks = Stopwatch.GetTimestamp() - start;
        if (repeat == 1)
            return (hidden, maskValue);

        // Beam search: every beam of a prompt attends to the same encoder output. Copied once per call.
        using (hidden)
        using (maskValue)
        {
            var source = hidden.GetTensorDataAsSpan<float>();
            var rowSize = source.Length / batch;
            var expanded = new float[source.Length * repeat];
            var expandedMask = new long[mask.Length * repeat];
            for (var b = 0; b < batch; b++)
            {
                for (var k = 0; k < repeat; k++)
                {
                    source.Slice(b * rowSize, rowSize).CopyTo(expanded.AsSpan((b * repeat + k) * rowSize, rowSize));
                    mask.AsSpan(b * length, length).CopyTo(expandedMask.AsSpan((b * repeat + k) * length, length));
                }
            }
            return (OrtValue.CreateTensorValueFromMemory(expanded, [batch * repeat, length, model.Config.DModel]),
                OrtValue.CreateTensorValueFromMemory(expandedMask, [batch * repeat, length]));
        }
    }
}
