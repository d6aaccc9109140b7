import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UI_LANGUAGES } from '../../src/ui/router.ts';
import { LANGUAGE_NAMES, LANGUAGES, message, TABLES } from '../../ui/src/i18n.ts';

const placeholders = (s: string): string[] => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();

describe('UI catalogues (ui/src/i18n.ts)', () => {
  it('every catalogue has every key of the English one, no other key, and no empty string', () => {
    const keys = Object.keys(TABLES.en).sort();
    assert.ok(keys.length > 100);
    for (const lang of LANGUAGES) {
      assert.deepEqual(Object.keys(TABLES[lang]).sort(), keys, lang);
      for (const k of keys) assert.notEqual(TABLES[lang][k as keyof typeof TABLES.en].trim(), '', `${lang} ${k}`);
    }
  });

  it('every translation keeps the {placeholders} of the English message', () => {
    for (const lang of LANGUAGES)
      for (const [k, en] of Object.entries(TABLES.en))
        assert.deepEqual(placeholders(TABLES[lang][k as keyof typeof TABLES.en]), placeholders(en), `${lang} ${k}`);
  });

  it('zh-CN is a real translation, not English copied, and fills its placeholders', () => {
    const same = Object.entries(TABLES.en).filter(([k, en]) => TABLES['zh-CN'][k as keyof typeof TABLES.en] === en && /[a-z]{4}/.test(en));
    // only names that stay as they are (bootgate, initrd, NBP...) may equal the English text
    assert.deepEqual(
      same.map(([k]) => k),
      ['app.title', 'step.initrd'],
    );
    assert.equal(message('zh-CN', 'room.count', { shown: 3, total: 7 }), '共 7 台终端，显示 3 台');
    assert.equal(message('zh-CN', 'login.limited', {}), '登录失败次数过多，请在 {seconds} 秒后重试。');
  });

  it('the server negotiates exactly the browser catalogues, and names each in its own language', () => {
    assert.deepEqual([...UI_LANGUAGES].sort(), [...LANGUAGES].sort());
    assert.deepEqual(Object.keys(LANGUAGE_NAMES).sort(), [...LANGUAGES].sort());
  });
});
