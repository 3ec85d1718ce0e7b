/**
 * Phone comparison keys for `crm.duplicate.findbycomm`.
 *
 * Docs (`crm-duplicate-find-by-comm.md`, tutorials `search-by-phone-and-email.md` and
 * `how-to-add-repeat-lead.md`): the number is compared "as a whole, ignoring only the extension";
 * "+49 30 1234567" stored and "49301234567" searched do not match. `docsPhoneKey` models that:
 * extension and punctuation dropped, the leading `+` kept, no country-prefix rewriting.
 *
 * The core mirror (`crm/lib/integrity/duplicatecommunicationcriterion.php` → `NormalizePhone` in
 * `main/tools.php`) normalises more; `corePhoneKey` re-implements those rules from their description:
 * `+8…` of ≥ 10 chars is international; keep digits and `#*,;`; with ≥ 10 digits strip `00`/`011`,
 * turn a leading `8` into `7` (except `80`/`81`/`82`), strip a leading `0`; drop the extension.
 */

const EXTENSION = /\s*(?:[;#,]|(?:ext\.?|x|доб\.?)\s*\d).*$/i;

export function docsPhoneKey(value: string): string {
  const withoutExt = value.trim().replace(EXTENSION, '');
  const plus = withoutExt.startsWith('+') ? '+' : '';
  return plus + withoutExt.replace(/\D/g, '');
}

export function corePhoneKey(value: string): string {
  let n = value.trim();
  if (n === '') return '';
  if (n.length >= 10 && n.startsWith('+8')) n = `00${n.slice(1)}`;
  n = n.replace(/[^0-9#*,;]/g, '');
  if (n.length >= 10) {
    if (/^8[012]/.test(n)) {
      // 80x/81x/82x are kept: international numbers, not the Russian trunk prefix.
    } else if (n.startsWith('00')) n = n.slice(2);
    else if (n.startsWith('011')) n = n.slice(3);
    else if (n.startsWith('8')) n = `7${n.slice(1)}`;
    else if (n.startsWith('0')) n = n.slice(1);
  }
  return (n.split(/[;#,]/)[0] ?? '').replace(/[^0-9*]/g, '');
}

export function phoneKey(value: string, mode: 'docs' | 'core'): string {
  return mode === 'core' ? corePhoneKey(value) : docsPhoneKey(value);
}

export function emailKey(value: string): string {
  return value.trim().toLowerCase();
}
