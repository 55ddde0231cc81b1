// Text is cut between characters, never inside one: titles, search snippets and every other
// truncation cut on grapheme cluster boundaries (Unicode UAX #29, src/text/graphemes.ts), so no
// U+FFFD, no lone surrogate, no split emoji or combining sequence, on both databases.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { titleFrom } from '../../src/modules/chats/history.ts';
import { wholeSnippet } from '../../src/modules/chats/search.ts';
import { graphemeCeil, graphemeExcerpt, graphemeFloor, truncateGraphemes } from '../../src/text/graphemes.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { type Account, bearer, createChat, getChat, readJson, register, sendJson, testEnv } from '../helpers/client.ts';

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const clustersOf = (text: string) => [...segmenter.segment(text)].map((segment) => segment.segment);
const boundariesOf = (text: string) => new Set([...[...segmenter.segment(text)].map((segment) => segment.index), text.length]);
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The clusters that naive cuts break, each as it appears in text. */
const samples = {
  family: '👩‍👩‍👧‍👦',
  flag: '🇫🇷',
  skinTone: '👍🏽',
  combining: 'e\u0301',
  cjk: '中文',
  keycap: '1\uFE0F\u20E3',
  conjunct: 'क्षा',
} as const;

function expectClean(text: string): void {
  expect(loneSurrogate.test(text)).toBe(false);
  expect(text).not.toContain('\uFFFD');
}

/** `kept` is the first whole clusters of `original`. */
function expectClusterPrefix(kept: string, original: string): void {
  const clusters = clustersOf(kept);
  expect(clusters).toEqual(clustersOf(original).slice(0, clusters.length));
}

/** `part` occurs in `original` starting and ending on cluster boundaries. */
function isClusterRun(part: string, original: string): boolean {
  const boundaries = boundariesOf(original);
  for (let at = original.indexOf(part); at >= 0; at = original.indexOf(part, at + 1)) {
    if (boundaries.has(at) && boundaries.has(at + part.length)) return true;
  }
  return false;
}

const withoutEllipses = (snippet: string) => snippet.replace(/^…/, '').replace(/…$/, '');

describe('truncateGraphemes and friends (UAX #29)', () => {
  test('happy: text that fits is returned as it is', () => {
    expect(truncateGraphemes('short 👍🏽', 20)).toBe('short 👍🏽');
    expect(truncateGraphemes('', 0)).toBe('');
    expect(truncateGraphemes('abc', 3)).toBe('abc');
  });

  test('happy: a cut keeps the longest prefix of whole clusters that fits with the ellipsis', () => {
    expect(truncateGraphemes('abcdef', 4)).toBe('abc…');
    expect(truncateGraphemes('abcdef', 4, '')).toBe('abcd');
    expect(truncateGraphemes('ab👩‍👩‍👧‍👦cd', 6)).toBe('ab…');
    expect(truncateGraphemes('ab🇫🇷🇫🇷', 5)).toBe('ab…');
    expect(truncateGraphemes('ab🇫🇷🇫🇷', 7)).toBe('ab🇫🇷…');
    expect(truncateGraphemes('cafe\u0301s', 4, '')).toBe('caf');
    expect(truncateGraphemes('cafe\u0301s', 5, '')).toBe('cafe\u0301');
  });

  for (const [name, cluster] of Object.entries(samples)) {
    test(`happy: every cut through a run of ${name} clusters keeps whole clusters only`, () => {
      const text = `ab ${cluster.repeat(6)} cd`;
      for (let max = 0; max <= text.length + 1; max++) {
        for (const ellipsis of ['…', '', '...']) {
          const cut = truncateGraphemes(text, max, ellipsis);
          expect(cut.length).toBeLessThanOrEqual(Math.max(max, 0));
          expectClean(cut);
          if (cut === text) continue;
          const kept = ellipsis && cut.endsWith(ellipsis) ? cut.slice(0, -ellipsis.length) : cut;
          expectClusterPrefix(kept, text);
          // The longest such prefix: the next cluster would not have fitted.
          const next = clustersOf(text)[clustersOf(kept).length] ?? '';
          expect(kept.length + next.length + (cut.endsWith(ellipsis) ? ellipsis.length : 0)).toBeGreaterThan(max);
        }
      }
    });
  }

  test('error: a naive slice through these texts does break characters (the cases are real)', () => {
    expect(loneSurrogate.test('ab🇫🇷'.slice(0, 3))).toBe(true);
    expect('e\u0301'.slice(0, 1)).not.toBe(clustersOf('e\u0301')[0]);
    expect(clustersOf('👩‍👩‍👧‍👦')).toHaveLength(1);
  });

  test('error: an ellipsis that does not fit is left out, and nonsense lengths give an empty cut', () => {
    expect(truncateGraphemes('abcdef', 2, '...')).toBe('ab');
    expect(truncateGraphemes('abcdef', 0)).toBe('');
    expect(truncateGraphemes('abcdef', -5)).toBe('');
    expect(truncateGraphemes('abcdef', Number.NaN)).toBe('');
    // One cluster longer than the room left is dropped whole, never cut.
    expect(truncateGraphemes('👩‍👩‍👧‍👦', 5)).toBe('…');
  });

  test('happy: floor and ceil find the boundaries around an index, flags paired from the start', () => {
    const flags = '🇫🇷🇩🇪🇮🇹';
    for (let i = 0; i <= flags.length; i++) {
      expect(graphemeFloor(flags, i)).toBe(Math.floor(i / 4) * 4);
      expect(graphemeCeil(flags, i)).toBe(Math.ceil(i / 4) * 4);
    }
    expect(graphemeFloor('x', -3)).toBe(0);
    expect(graphemeCeil('x', 9)).toBe(1);
  });

  test('happy: an excerpt is widened to whole clusters, with ellipses where text was left out', () => {
    const text = 'आप कैसे हैं 👍🏽 thanks';
    expect(graphemeExcerpt(text, 0, text.length)).toBe(text);
    // 13 is inside the skin-toned thumb; 5 inside कै.
    const excerpt = graphemeExcerpt(text, 5, 13);
    expectClean(excerpt);
    expect(isClusterRun(withoutEllipses(excerpt), text)).toBe(true);
    expect(excerpt.startsWith('…')).toBe(true);
    expect(excerpt.endsWith('👍🏽…')).toBe(true);
  });
});

describe('titleFrom', () => {
  for (const [name, cluster] of Object.entries(samples)) {
    test(`happy: a title cut at any position through ${name} clusters keeps whole clusters`, () => {
      for (let lead = 30; lead <= 61; lead++) {
        const text = `${'a'.repeat(lead)}${cluster.repeat(20)}`;
        const title = titleFrom(text);
        expectClean(title);
        expect(title.endsWith('…')).toBe(true);
        const kept = title.slice(0, -1);
        expect(kept.length).toBeLessThanOrEqual(60);
        expectClusterPrefix(kept, text);
      }
    });
  }

  test('happy: a word boundary near the end is still preferred, and trailing punctuation dropped', () => {
    const text = 'Plan a family trip 👩‍👩‍👧‍👦 to Paris 🇫🇷 and Lyon, Marseille-Provence, Tōkyō 東京 👍🏽';
    expect(titleFrom(text)).toBe('Plan a family trip 👩‍👩‍👧‍👦 to Paris 🇫🇷 and Lyon…');
    expect(titleFrom(`${'中文'.repeat(40)} end`)).toBe(`${'中文'.repeat(30)}…`);
    expect(titleFrom('short one 👍🏽')).toBe('short one 👍🏽');
  });

  test('security: a space followed by a combining mark is one cluster, never split to leave a lone mark', () => {
    const text = `${'word '.repeat(8)}x \u0301${'y'.repeat(40)}`;
    const title = titleFrom(text);
    expectClean(title);
    expectClusterPrefix(title.slice(0, -1), text);
  });
});

describe('wholeSnippet', () => {
  test('happy: an engine snippet cut inside a cluster is widened to the whole cluster', () => {
    const body = `${'word '.repeat(20)}needle ${'का '.repeat(10)}end`;
    const engine = `…word word needle का का क…`;
    const snippet = wholeSnippet(body, engine);
    expect(snippet).toBe('…word word needle का का का…');
    const keycaps = 'needle k1 1\uFE0F\u20E3 k2 2\uFE0F\u20E3 tail';
    expect(wholeSnippet(keycaps, 'needle k1 1…')).toBe('needle k1 1\uFE0F\u20E3…');
  });

  test('happy: titles come back whole, and an uncut snippet has no ellipsis', () => {
    expect(wholeSnippet('Trip 🇫🇷', 'Trip 🇫🇷')).toBe('Trip 🇫🇷');
    expect(wholeSnippet('a needle b', 'a needle b')).toBe('a needle b');
  });

  test('error: a snippet not found in its text falls back to a clean cut of the text', () => {
    const body = '🇫🇷'.repeat(200);
    const snippet = wholeSnippet(body, 'nowhere');
    expectClean(snippet);
    expect(snippet.length).toBeLessThanOrEqual(200);
    expectClusterPrefix(snippet.slice(0, -1), body);
    expect(wholeSnippet(null, null)).toBe('');
  });
});

const filler = (count: number, prefix = 'word') => Array.from({ length: count }, (_, i) => `${prefix}${i}`).join(' ');
const letters = () => Array.from({ length: 8 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');

for (const [name, kind] of kinds) {
  describe(`titles and search snippets on ${name}`, () => {
    let app: TestApp;
    let user: Account;
    beforeAll(async () => {
      app = await createTestApp(kind, { ...testEnv, ECHO_DELAY_MS: '0' });
      user = await register(app);
    });
    afterAll(() => app.close());

    for (const [sample, cluster] of Object.entries(samples)) {
      test(`happy: a first message of ${sample} clusters titles its chat with whole clusters`, async () => {
        const chat = await createChat(app, user.accessToken, { provider: 'echo' });
        // 59 letters: the 60-unit cut falls inside the first cluster.
        const content = `${'a'.repeat(59)}${cluster.repeat(30)}`;
        await sendJson(app, user.accessToken, chat.id, { content });
        const title = String((await getChat(app, user.accessToken, chat.id)).title);
        expectClean(title);
        expect(title.endsWith('…')).toBe(true);
        expectClusterPrefix(title.slice(0, -1), content);
      });
    }

    test('happy: a mixed emoji, flag, skin-tone, combining and CJK message gives a clean title', async () => {
      const chat = await createChat(app, user.accessToken, { provider: 'echo' });
      const content = `${Object.values(samples).join('')}`.repeat(10);
      await sendJson(app, user.accessToken, chat.id, { content });
      const title = String((await getChat(app, user.accessToken, chat.id)).title);
      expectClean(title);
      expectClusterPrefix(title.slice(0, -1), content);
    });

    test('happy: search snippets over emoji, combining and Indic text are whole clusters of the stored text', async () => {
      const term = `needle${letters()}`;
      const texts = [
        `${filler(30)} ${term} ${'का '.repeat(30)}`,
        `${term} ${Array.from({ length: 40 }, (_, i) => `k${i}${samples.keycap}`).join(' ')}`,
        `hindi ${'नमस्ते दुनिया '.repeat(12)}${term} ${'नमस्ते दुनिया '.repeat(12)}`,
        `${filler(20)} ${term} ${Array.from({ length: 40 }, (_, i) => `w${i}${samples.family}${samples.flag}${samples.skinTone}${samples.combining}${samples.cjk}`).join(' ')}`,
        `${Array.from({ length: 30 }, (_, i) => `m${i} \u0301x${i}`).join(' ')} ${term} ${filler(30, 'tail')}`,
        `${'中文'.repeat(10)} ${term} ${'👍🏽 '.repeat(60)}`,
      ];
      for (const content of texts) {
        const chat = await createChat(app, user.accessToken, { provider: 'echo', title: 'Unicode' });
        await sendJson(app, user.accessToken, chat.id, { content });
      }
      const response = await app.request(`/api/v1/chats/search?q=${term}&limit=20`, { headers: bearer(user.accessToken) });
      expect(response.status).toBe(200);
      const results = await readJson(response);
      expect(results.data).toHaveLength(texts.length);
      let checked = 0;
      for (const hit of results.data as { matches: { messageId: string | null; snippet: string }[] }[]) {
        for (const match of hit.matches) {
          expect(match.messageId).not.toBeNull();
          expectClean(match.snippet);
          expect(match.snippet).toContain(term);
          const core = withoutEllipses(match.snippet);
          const source = texts.find((text) => isClusterRun(core, text));
          if (!source) throw new Error(`snippet ${JSON.stringify(match.snippet)} is not a run of whole clusters of any message`);
          expect(match.snippet.startsWith('…')).toBe(!source.startsWith(core));
          checked++;
        }
      }
      expect(checked).toBeGreaterThanOrEqual(texts.length);
    });
  });
}
