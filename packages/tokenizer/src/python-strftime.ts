/**
 * The `strftime_now(format)` that Hugging Face transformers gives chat templates (Llama 3.1/3.2
 * write "Today Date: {{ strftime_now('%d %b %Y') }}"). Python's C-locale names, not the host's
 * Intl locale, so a prompt is the same on every machine for the same date.
 */

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function dayOfYear(date: Date): number {
  const start = new Date(date.getFullYear(), 0, 1);
  const startUtc = Date.UTC(start.getFullYear(), 0, 1);
  const dateUtc = Date.UTC(date.getFullYear(), date.getMonth(), date.getDate());
  return Math.round((dateUtc - startUtc) / 86_400_000) + 1;
}

/** Python's `date.strftime` in local time for the directives chat templates use; others stay as written. */
export function pythonStrftime(date: Date, format: string): string {
  return format.replace(/%([a-zA-Z%])/g, (whole, directive: string) => {
    const hours = date.getHours();
    switch (directive) {
      case 'Y':
        return String(date.getFullYear());
      case 'y':
        return pad(date.getFullYear() % 100);
      case 'm':
        return pad(date.getMonth() + 1);
      case 'd':
        return pad(date.getDate());
      case 'e':
        return String(date.getDate()).padStart(2, ' ');
      case 'j':
        return pad(dayOfYear(date), 3);
      case 'b':
      case 'h':
        return MONTHS[date.getMonth()]!.slice(0, 3);
      case 'B':
        return MONTHS[date.getMonth()]!;
      case 'a':
        return DAYS[date.getDay()]!.slice(0, 3);
      case 'A':
        return DAYS[date.getDay()]!;
      case 'H':
        return pad(hours);
      case 'I':
        return pad(hours % 12 === 0 ? 12 : hours % 12);
      case 'p':
        return hours < 12 ? 'AM' : 'PM';
      case 'M':
        return pad(date.getMinutes());
      case 'S':
        return pad(date.getSeconds());
      case '%':
        return '%';
      default:
        return whole;
    }
  });
}
