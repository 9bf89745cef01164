namespace Serverless.Inference.Generation;

/// <summary>A token and its log-probability: the natural log of its softmax probability among every row of the step's
/// processed scores (after the logits processors, before temperature, top_k and top_p).</summary>
/// <param name="Id">The token id.</param>
/// <param name="LogProb">At most 0; negative infinity for a token the processors banned.</param>
public readonly record struct TokenLogProb(int Id, float LogProb);

/// <summary>One decoder step's log-probabilities, computed only when a row asks for them
/// (<see cref="TokenObserver.TopLogProbs"/>): the token chosen and the most likely tokens of the step.</summary>
/// <param name="Chosen">The token the step chose (greedy or sampled) and its log-probability.</param>
/// <param name="Top">The most likely tokens, most likely first (ties: lower id first), as many as were asked for.</param>
public sealed record StepLogProbs(TokenLogProb Chosen, IReadOnlyList<TokenLogProb> Top);
