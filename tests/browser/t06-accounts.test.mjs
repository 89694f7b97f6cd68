// Accounts in the page: sign up, sign out, sign in, change the password
// (a wrong current one is refused, visibly; the old one stops working);
// a guest cannot take a registered name; the errors of the API
// (username_taken, invalid_credentials, validation_error, rate_limited
// with the time to wait) are shown under the form; a guest keeps its name
// by giving it a password.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as L from './lib.mjs';

let browser;
before(async () => {
  browser = await L.launch();
});
after(async () => {
  await browser?.close();
});

/** Fills and submits the sign-in (login) or sign-up (register) form. */
async function submitAccount(page, kind, name, password) {
  await page.locator(`#tab-${kind}`).click();
  await page.locator(`#${kind}-name`).fill(name);
  await page.locator(`#${kind}-password`).fill(password);
  await page.locator(`#${kind}-submit`).click();
}

/** Waits until the form's error shows exactly text. */
async function waitError(page, id, text) {
  await page.waitForFunction(
    ([i, t]) => {
      const el = document.getElementById(i);
      return !el.hidden && el.textContent === t;
    },
    [id, text],
  );
  assert.equal(await page.locator(`#${id}`).isVisible(), true);
}

async function signedInAs(page, name, kind) {
  await page.locator('#view-join').waitFor({ state: 'hidden' });
  await L.waitConn(page, 'online');
  assert.equal(await page.locator('#me-name').textContent(), name);
  assert.equal(await page.locator('#me-kind').getAttribute('data-kind'), kind);
}

test('sign up, sign out, sign in, change the password: the old one then fails', async () => {
  const s = await L.newPage(browser);
  const name = L.uniqueName('acct');
  const pw1 = 'first password 1';
  const pw2 = 'second pässword 2';
  try {
    await s.page.goto(`${L.BASE}/`);
    await submitAccount(s.page, 'register', name, pw1);
    await signedInAs(s.page, name, 'account');
    assert.equal(await s.page.locator('#me-kind').isVisible(), false, 'no "guest" mark on an account');
    const me = await L.api('GET', '/api/me', { token: await L.tokenOf(s.context) });
    assert.equal(me.json.data.user.registered, true);

    // Sign out, sign in again with the password.
    await s.page.locator('#logout').click();
    await s.page.locator('#view-join').waitFor();
    await submitAccount(s.page, 'login', name, pw1);
    await signedInAs(s.page, name, 'account');

    // A wrong current password: the 403 is shown in the dialog, which stays open.
    await s.page.locator('#account-open').click();
    await s.page.locator('#account').waitFor();
    await s.page.locator('#password-form').waitFor();
    assert.equal(await s.page.locator('#claim-form').isVisible(), false);
    const wrong = await L.api('POST', '/api/me/password', {
      token: (await L.registerRest('probe')).token,
      body: { current_password: 'not the password', new_password: 'whatever 123' },
    });
    assert.equal(wrong.status, 403, wrong.text);
    await s.page.locator('#pw-current').fill('not the password');
    await s.page.locator('#pw-new').fill(pw2);
    await s.page.locator('#pw-submit').click();
    await waitError(s.page, 'pw-error', wrong.json.error.message);
    assert.equal(await s.page.locator('#account').isVisible(), true);

    // The right one: changed, the dialog closes.
    await s.page.locator('#pw-current').fill(pw1);
    await s.page.locator('#pw-new').fill(pw2);
    await s.page.locator('#pw-submit').click();
    await s.page.locator('#account').waitFor({ state: 'hidden' });
    await s.page.locator('#toasts .toast.info').filter({ hasText: /^Password changed\./ }).waitFor();
    await L.screenshot(s.page, 'account-changed');

    // Signed out, the old password is refused with invalid_credentials, shown.
    await s.page.locator('#logout').click();
    await s.page.locator('#view-join').waitFor();
    const bad = await L.api('POST', '/api/login', { body: { username: name, password: pw1 } });
    assert.equal(bad.status, 401, bad.text);
    assert.equal(bad.json.error.code, 'invalid_credentials');
    await submitAccount(s.page, 'login', name, pw1);
    await waitError(s.page, 'login-error', bad.json.error.message);
    assert.equal(await s.page.locator('#view-join').isVisible(), true, 'still signed out');
    // The new one works.
    await s.page.locator('#login-password').fill(pw2);
    await s.page.locator('#login-submit').click();
    await signedInAs(s.page, name, 'account');
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});

test('a guest cannot take a registered name, nor sign up with it; the errors are shown', async () => {
  const acct = await L.registerRest('owned');
  const name = acct.user.username;
  const s = await L.newPage(browser, { viewport: L.PHONE, isMobile: true });
  try {
    await s.page.goto(`${L.BASE}/`);
    // As a guest (no session holds the name: the account is signed out).
    await L.api('DELETE', '/api/session', { token: acct.token });
    const r = await L.api('POST', '/api/join', { body: { username: name } });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.error.code, 'username_taken');
    await s.page.locator('#join-name').fill(name);
    await s.page.locator('#join-submit').click();
    await waitError(s.page, 'join-error', r.json.error.message);
    assert.equal(await s.page.locator('#view-join').isVisible(), true);

    // Signing up with it: username_taken too.
    const r2 = await L.api('POST', '/api/register', { body: { username: name, password: 'another password' } });
    assert.equal(r2.status, 409, r2.text);
    await submitAccount(s.page, 'register', name, 'another password');
    await waitError(s.page, 'register-error', r2.json.error.message);

    // A password that is too short: the server's validation message.
    const fresh = L.uniqueName('short');
    const r3 = await L.api('POST', '/api/register', { body: { username: fresh, password: 'short' } });
    assert.equal(r3.status, 400, r3.text);
    assert.equal(r3.json.error.code, 'validation_error');
    await submitAccount(s.page, 'register', fresh, 'short');
    await waitError(s.page, 'register-error', r3.json.error.message);
    // Empty fields are caught before asking the server.
    await s.page.locator('#register-password').fill('');
    await s.page.locator('#register-submit').click();
    await waitError(s.page, 'register-error', 'Type the password too.');
    await L.screenshot(s.page, 'register-error-phone');
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});

test('too many failed sign-ins: rate_limited is shown with the time to wait', async () => {
  const acct = await L.registerRest('limited');
  const name = acct.user.username;
  // Use up the failed sign-ins of the name (CHAT_LOGIN_USER_RATE, 10 by default).
  let last;
  for (let i = 0; i < 30; i++) {
    last = await L.api('POST', '/api/login', { body: { username: name, password: `wrong password ${i}` } });
    if (last.status === 429) break;
    assert.equal(last.status, 401, last.text);
  }
  assert.equal(last.status, 429, 'the name is limited');
  const s = await L.newPage(browser);
  try {
    await s.page.goto(`${L.BASE}/`);
    // Even the right password is refused now, and the page says for how long.
    await submitAccount(s.page, 'login', name, acct.password);
    const err = s.page.locator('#login-error');
    await err.waitFor({ state: 'visible' });
    const text = await err.textContent();
    assert.match(text, /^too many failed sign-ins \(try again in \d+ (s|min)\)$/, text);
    assert.equal(await s.page.locator('#view-join').isVisible(), true);
    L.assertClean(s);
  } finally {
    await s.context.close();
  }
});

test('a guest keeps its name by setting a password; it then signs in with it', async () => {
  const g = await L.signIn(browser, { prefix: 'claim' });
  const other = await L.newPage(browser);
  try {
    assert.equal(await g.page.locator('#me-kind').textContent(), 'guest');
    assert.equal(await g.page.locator('#me-kind').isVisible(), true);
    await g.page.locator('#account-open').click();
    await g.page.locator('#claim-form').waitFor();
    assert.equal(await g.page.locator('#password-form').isVisible(), false, 'a guest has no password to change');
    // Too short: the server's message, and still a guest.
    await g.page.locator('#claim-password').fill('short');
    await g.page.locator('#claim-submit').click();
    await g.page.locator('#claim-error').waitFor({ state: 'visible' });
    assert.match(await g.page.locator('#claim-error').textContent(), /password/i);
    await g.page.locator('#claim-password').fill('a long enough password');
    await g.page.locator('#claim-submit').click();
    await g.page.locator('#account').waitFor({ state: 'hidden' });
    await g.page.waitForFunction(() => document.getElementById('me-kind').dataset.kind === 'account');
    // Keyboard: the dialog opens and Escape closes it.
    await g.page.locator('#account-open').focus();
    await g.page.keyboard.press('Enter');
    await g.page.locator('#password-form').waitFor();
    await g.page.keyboard.press('Escape');
    await g.page.locator('#account').waitFor({ state: 'hidden' });

    // The name is an account now: another browser signs in with it.
    await other.page.goto(`${L.BASE}/`);
    await submitAccount(other.page, 'login', g.name, 'a long enough password');
    await signedInAs(other.page, g.name, 'account');
    L.assertClean(g, 'guest');
    L.assertClean(other, 'other');
  } finally {
    await g.context.close();
    await other.context.close();
  }
});
