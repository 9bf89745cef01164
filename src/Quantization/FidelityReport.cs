using System.Globalization;
using System.Text;

namespace Serverless.Quantization;

/// <summary>How closely a quantized export follows fp32 on the same inputs.</summary>
/// <param name="TeacherForcedSteps">Decoder steps compared (prompts × steps, both models fed the same tokens).</param>
/// <param name="Top1Agreement">Fraction of those steps where both models' highest logit is the same token.</param>
/// <param name="MeanCosine">Mean cosine similarity of the two logit vectors over the steps.</param>
/// <param name="MinCosine">The lowest cosine similarity of a step.</param>
/// <param name="GreedySequences">Prompts generated greedily by both models.</param>
/// <param name="GreedyExact">Of those, how many gave exactly the same tokens.</param>
/// <param name="GreedyTokenAgreement">Mean fraction of each greedy output that agrees before the first difference.</param>
/// <param name="GoldenCases">Committed greedy goldens replayed on the quantized model (0 when none were given).</param>
/// <param name="GoldenExact">Of those, how many it reproduced token for token.</param>
public sealed record FidelityReport(
    int TeacherForcedSteps, double Top1Agreement, double MeanCosine, double MinCosine,
    int GreedySequences, int GreedyExact, double GreedyTokenAgreement, int GoldenCases, int GoldenExact)
{
    public string ToText()
    {
        var text = new StringBuilder();
        text.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"teacher-forced top-1 agreement: {Top1Agreement:P2} over {TeacherForcedSteps} decoder steps"));
        text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"logit cosine similarity: mean {MeanCosine:F5}, min {MinCosine:F5}"));
        text.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"greedy outputs identical: {GreedyExact}/{GreedySequences}; tokens agreeing before the first difference: {GreedyTokenAgreement:P1}"));
        if (GoldenCases > 0)
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"greedy goldens reproduced: {GoldenExact}/{GoldenCases}"));
        return text.ToString().TrimEnd();
    }
}
