import { describe, expect, it } from 'vitest';
import { referencedIds, signatureBlock, stripQuotedHistory, stripSubjectPrefixes } from './mail-thread.ts';

describe('referencedIds', () => {
  it('takes mailparser references as a string (one id) or an array (several), root first, In-Reply-To last', () => {
    expect(referencedIds('<a@x>', '<a@x>')).toEqual(['<a@x>']);
    expect(referencedIds(['<a@x>', '<b@x>'], '<c@x>')).toEqual(['<a@x>', '<b@x>', '<c@x>']);
  });
  it('works with In-Reply-To alone, with nothing, and with a space-separated string', () => {
    expect(referencedIds(undefined, '<c@x>')).toEqual(['<c@x>']);
    expect(referencedIds(undefined)).toEqual([]);
    expect(referencedIds('<a@x> <b@x>')).toEqual(['<a@x>', '<b@x>']);
  });
  it('adds brackets to a bare id and drops duplicates', () => {
    expect(referencedIds(['a@x', '<a@x>'])).toEqual(['<a@x>']);
  });
});

describe('stripSubjectPrefixes', () => {
  it.each([
    ['Re: Заявка', 'Заявка'],
    ['RE: Re: Fwd: Заявка', 'Заявка'],
    ['Ответ: Отв: Заявка', 'Заявка'],
    ['Re[2]: Заявка', 'Заявка'],
    ['FW: AW: Заявка', 'Заявка'],
    ['Заявка: Re', 'Заявка: Re'],
    ['Resume attached', 'Resume attached'],
  ])('%s → %s', (input, out) => {
    expect(stripSubjectPrefixes(input)).toBe(out);
  });
});

describe('stripQuotedHistory', () => {
  it('cuts at "On … wrote:", also wrapped over two lines', () => {
    expect(stripQuotedHistory('Yes, Thursday.\n\nOn Tue, Nov 5, 2024 at 10:15 AM Anna <a@x.test> wrote:\n> Hi')).toBe('Yes, Thursday.');
    expect(stripQuotedHistory('Yes.\n\nOn Tue, Nov 5, 2024 at 10:15 AM Anna Karenina\n<a@x.test> wrote:\n> Hi')).toBe('Yes.');
  });
  it('cuts at "… пишет:" and at Gmail-RU attribution without a verb', () => {
    expect(stripQuotedHistory('Да.\n\n05.11.2024, 10:15, "Анна" <a@x.test> пишет:\n> Привет')).toBe('Да.');
    expect(stripQuotedHistory('Да.\n\nВт, 5 нояб. 2024 г. в 10:15, Анна <a@x.test>:\n> Привет\n>\n> Вопрос')).toBe('Да.');
  });
  it('cuts at -----Original Message----- and the Russian variant', () => {
    expect(stripQuotedHistory('Ok\n-----Original Message-----\nFrom: a\nSent: b\n\nold')).toBe('Ok');
    expect(stripQuotedHistory('Ок\n-------- Исходное сообщение --------\nold')).toBe('Ок');
  });
  it('cuts at an Outlook header block but keeps a "From:" line the customer typed', () => {
    expect(stripQuotedHistory('Согласен\n\nОт: Leads <l@x.test>\nОтправлено: 6 ноября 2024 г. 15:00\nТема: Re\n\nold')).toBe('Согласен');
    expect(stripQuotedHistory('From: Moscow, to: Kazan\n40 boxes')).toBe('From: Moscow, to: Kazan\n40 boxes');
  });
  it('drops interleaved > lines and keeps the rest', () => {
    expect(stripQuotedHistory('> price?\n24 000\n> date?\nThursday')).toBe('24 000\nThursday');
  });
  it('keeps a forwarded message: a forward is the content', () => {
    const fwd = 'See below\n\n---------- Forwarded message ---------\nFrom: Client <c@x.test>\nWe need 40 boxes';
    expect(stripQuotedHistory(fwd)).toBe(fwd);
  });
  it('normalises CRLF', () => {
    expect(stripQuotedHistory('a\r\nb\r\n')).toBe('a\nb');
  });
});

describe('signatureBlock', () => {
  it('takes the block after "-- " (and after "--")', () => {
    expect(signatureBlock('Body\n-- \nIvan\n+7 912 345-67-89')).toBe('Ivan\n+7 912 345-67-89');
    expect(signatureBlock('Body\n--\nIvan')).toBe('Ivan');
  });
  it('falls back to the last 10 non-empty lines', () => {
    const text = Array.from({ length: 15 }, (_, i) => `line ${i + 1}`).join('\n\n');
    expect(signatureBlock(text).split('\n')).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i + 6}`));
  });
});
