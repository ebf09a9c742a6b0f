// Answers of the moderation classifiers in their documented shapes, for the local servers the tests run.

const openaiCategories = ['harassment', 'harassment/threatening', 'hate', 'hate/threatening', 'illicit', 'illicit/violent', 'self-harm', 'self-harm/instructions', 'self-harm/intent', 'sexual', 'sexual/minors', 'violence', 'violence/graphic'];
const imageCategories = new Set(['self-harm', 'self-harm/instructions', 'self-harm/intent', 'sexual', 'violence', 'violence/graphic']);

/** A moderation answer as OpenAI documents it: every category scored, `flagged` where OpenAI's own threshold is passed. */
export function openaiModerationAnswer(scores: Record<string, number>, { flagged = [], input = 'text' }: { flagged?: string[]; input?: 'text' | 'image' } = {}) {
  return {
    id: 'modr-0d4b2e1f',
    model: 'omni-moderation-2024-09-26',
    results: [{
      flagged: flagged.length > 0,
      categories: Object.fromEntries(openaiCategories.map((category) => [category, flagged.includes(category)])),
      category_scores: Object.fromEntries(openaiCategories.map((category) => [category, scores[category] ?? 0.000012])),
      category_applied_input_types: Object.fromEntries(openaiCategories.map((category) => [category, input === 'text' ? ['text'] : imageCategories.has(category) ? ['image'] : []])),
    }],
  };
}

/** A chat completion as an OpenAI-compatible server (vLLM, Ollama) answers it, Llama Guard's text as the message. */
export const llamaGuardChatAnswer = (content: string) => ({ id: 'chatcmpl-1', object: 'chat.completion', model: 'llama-guard3:8b', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] });
