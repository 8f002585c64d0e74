const STORAGE_KEY = 'loan-console.reviewer-key';

/**
 * The reviewer key lives in sessionStorage: this tab only, gone when it closes, never in localStorage or a cookie
 * (a cookie would travel with every request, and localStorage outlives the session on a shared computer).
 */
export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function storeKey(key: string | null): void {
  try {
    if (key === null) sessionStorage.removeItem(STORAGE_KEY);
    else sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // storage refused (a locked-down browser): the key then lasts as long as the page
  }
}
