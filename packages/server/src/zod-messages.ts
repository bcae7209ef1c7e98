import en from 'zod/v4/locales/en.js';

// zod/mini registers no locale, so without this map every issue would read "Invalid input". Passed
// per parse rather than through z.config so that loading this package leaves the host's zod alone.
export const englishMessages = en().localeError;
