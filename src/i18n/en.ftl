## Gatehouse — English. The reference catalogue: fr.ftl and de.ftl have exactly these ids.
## Messages may hold a little markup (<strong>) for HTML; arguments are always escaped.

## Page frame
brand-fallback = Gatehouse
footer = Secured by Gatehouse
nav-label = Your account
nav-myapps = My Apps
nav-security-info = Security info
nav-sign-out = Sign out

## Sign-in
login-title = Sign in
login-title-password = Enter your password
login-title-code = Enter your code
login-to-app = to continue to <strong>{ $app }</strong>
login-email-label = Email address
login-next = Next
login-code-sent = If this address can sign in here, we have sent it a one-time code. It expires in 10 minutes.
login-code-label = Code
login-sign-in = Sign in
login-send-new-code = Send a new code
login-other-account = Use another account
login-password-label = Password
login-email-code-instead = Email me a one-time code instead
login-error-email = Enter a valid email address.
login-error-password-empty = Enter your password.
login-error-credentials = The email address or password is incorrect.
login-error-throttled = Too many failed sign-ins. Wait { $seconds ->
    [one] one second
   *[other] { $seconds } seconds
} and try again.
login-error-locked = This account is locked after too many failed sign-ins. Try again in { $minutes ->
    [one] one minute
   *[other] { $minutes } minutes
}, or email yourself a one-time code if you are a guest.
login-error-address-throttled = Too many failed sign-ins came from your network. Wait { $seconds ->
    [one] one second
   *[other] { $seconds } seconds
} and try again.
code-error-wrong = That code is not right or has expired.
code-error-void = That code no longer works: it was entered wrongly too many times. Send a new code.
code-error-too-many-sends = Too many codes were requested. Wait a while and try again.

## Consent
consent-title = Permissions requested
consent-lead = <strong>{ $app }</strong> asks to:
consent-scope-signin = Sign you in
consent-scope-profile = See your name
consent-scope-email = See your email address
consent-scope-offline = Keep access while you are away
consent-signed-in-as = Signed in as { $email }
consent-allow = Allow
consent-cancel = Cancel

## Second factor
mfa-title-totp = Enter your verification code
mfa-title-mailbox = Confirm your email address
mfa-title-enroll = Set up your authenticator app
mfa-title-recovery = Save your recovery codes
mfa-totp-intro = Open your authenticator app and enter the code it shows for this account.
mfa-verify = Verify
mfa-lost-phone = Lost your phone? Enter one of your recovery codes instead.
mfa-mailbox-intro = Before you set up an authenticator app, confirm that this mailbox is yours: we have sent it a one-time code. It expires in 10 minutes.
mfa-mailbox-label = Code from the email
mfa-continue = Continue
mfa-enroll-intro = This organisation requires a second step at sign-in. Scan this QR code with an authenticator app (any app that supports time-based codes), then enter the code it shows.
mfa-qr-label = QR code to scan with your authenticator app
mfa-manual-key = Can't scan? Enter this key in the app:
mfa-open-app = Open in an authenticator app on this device
mfa-enable = Verify and turn on
mfa-recovery-intro = Your authenticator app is set up. Keep these recovery codes somewhere safe: each one signs you in once if you lose your phone. They will not be shown again.
mfa-recovery-saved = I have saved them, continue
mfa-error-throttled = Too many wrong codes for this account. Wait { $seconds ->
    [one] one second
   *[other] { $seconds } seconds
} and try again.
mfa-error-address-throttled = Too many wrong codes came from your network. Wait { $seconds ->
    [one] one second
   *[other] { $seconds } seconds
} and try again.
mfa-error-wrong = That code is not right. Codes work once and change every 30 seconds.
mfa-error-enroll-wrong = That code is not right. Check the time on your phone and enter the current code.
mfa-method-default = Authenticator app

## Invitations
redeem-title-invited = You're invited
redeem-title-choose = How do you want to sign in?
redeem-title-code = Check your email
redeem-title-password = Set a password?
redeem-title-consent = Review permissions
redeem-invited = <strong>{ $inviter }</strong> of <strong>{ $org }</strong> invited <strong>{ $email }</strong> to use { $org }'s applications.
redeem-invited-by-org = <strong>{ $org }</strong> invited <strong>{ $email }</strong> to use its applications.
redeem-destination = After you accept you will go to { $destination }
redeem-signed-in-as = You are signed in to { $org } as { $current }. Accepting continues as { $email } and signs { $current } out here.
redeem-warning = Only accept invitations you expect.
redeem-accept-as = Accept invitation as { $email }
redeem-choose-intro = Sign in to accept the invitation for <strong>{ $email }</strong> with your organisation's account, or get a one-time code by email.
redeem-sign-in-with = Sign in with { $idp }
redeem-code-sent = We sent a one-time code to <strong>{ $email }</strong>. It expires in 10 minutes.
redeem-password-intro = You can set a password for { $email } at { $org }, or keep signing in with a code sent to your mailbox.
redeem-password-label = New password (at least 8 characters)
redeem-set-password = Set password
redeem-skip = Skip
redeem-consent-intro = <strong>{ $org }</strong> will receive:
redeem-consent-name = Your name
redeem-consent-email = Your email address ({ $email })
redeem-consent-id = An identifier for your account in { $org }
redeem-privacy = Read { $org }'s privacy statement
redeem-no-privacy = { $org } has not provided a privacy statement.
redeem-accept = Accept
redeem-declined-title = Invitation declined
redeem-declined = Nothing was shared with { $org }. You can still accept later with the same link while it is valid.
redeem-error-password = That password cannot be used: { $reason }
password-too-short = it must have at least 8 characters.
password-too-long = it is too long.
password-blank = it must not be only spaces.
block-title = Block invitations
block-question = Stop receiving invitations from { $org } at { $email }?
block-button = Block future invitations
block-done-title = Invitations blocked
block-done = { $org } will not send invitations to { $email } any more.
held-waiting-title = Waiting for approval
held-waiting = Your organisation did not confirm that you own { $email }, the invited address. { $org } has been asked to approve the account you signed in with. Once an administrator approves it, sign in to the application again with the same account.
held-declined-title = Request declined
held-declined = An administrator of { $org } declined the account you signed in with for the invitation to { $email }.

## My Apps and security info
myapps-title = My Apps
myapps-none = No applications are available to you here yet.
secinfo-title = Security info
secinfo-new-codes = Your new recovery codes. Each signs you in once; the old ones no longer work. They will not be shown again.
secinfo-methods = Sign-in methods
secinfo-password = Password
secinfo-method = { $name } · added { $created }
secinfo-method-used = { $name } · added { $created } · last used { $used }
secinfo-remove = Remove
secinfo-remove-label = Remove { $name } added { $created }
secinfo-recovery-left = { $count ->
    [one] One recovery code left.
   *[other] { $count } recovery codes left.
}
secinfo-add = Add an authenticator app
secinfo-new-recovery = Create new recovery codes
secinfo-hint = Removing a method or creating recovery codes asks for your second factor first.
secinfo-notice-gone = That method no longer exists.
secinfo-notice-removed = The authenticator app was removed.
secinfo-notice-added = The authenticator app was added.

## Sign-out
logout-title = Sign out
logout-question = Do you want to sign out of { $org }?
logout-button = Sign out
logout-done-title = Signed out
logout-done = You have been signed out. You can close this window.
logout-continue = Continue
logout-frame-title = Sign-out notice to an app

## The page that posts an answer to an application
formpost-title = Continuing…
formpost-noscript = Your browser does not run scripts; press Continue.
formpost-continue = Continue

## The server's front page
landing-title = Gatehouse
landing-intro = This is a Gatehouse identity provider: organisations sign their people and their invited partners in to their applications here, with OpenID Connect and SAML 2.0.
landing-tenants = Each organisation has its own address, for example /contoso/myapps for its apps. Ask the organisation that invited you for its link.
landing-docs = Documentation
landing-health = Service status
landing-openapi = Admin API description (OpenAPI)

## Error pages
error-details = Details for the application's owner:
error-expired-title = Sign-in expired
error-expired = This sign-in page has expired or was opened in another browser. Go back to the application and sign in again.
error-federation-expired = This sign-in has expired, was already used, or was opened in another browser. Go back to the application and sign in again.
error-invitation-title = Invitation not available
error-invitation-invalid = This invitation link cannot be used. It may have expired or been withdrawn. Ask the person who invited you for a new invitation.
error-invitation-domain = The organisation no longer accepts guests from your domain.
error-invitation-handled = This invitation has already been dealt with. Sign in to the application again, or ask the person who invited you for a new invitation.
error-unknown-tenant-title = Unknown organisation
error-unknown-tenant = There is no organisation at this address.
error-not-found-title = Page not found
error-not-found = There is nothing at this address.
error-refused-title = Sign-in refused
error-no-guest-account = { $org } has no guest account for { $who } that can sign in.
error-no-guest-account-partner = { $org } has no guest account for the account you signed in with at { $partner }.
error-not-assigned = Your account has not been given access to { $app }. Ask { $org }'s administrator to assign it to you.
error-unconfirmed-address = { $idp } did not confirm that you own { $email }, the invited address, so the invitation cannot be accepted with this account.
your-organisation = Your organisation
error-blocked-title = Access blocked
error-blocked = { $org }'s access policies do not allow this sign-in. Contact the organisation's administrator.
error-not-invited-title = Not the invited account
error-home-other-account = You signed in to { $home } as { $account }, which is not the account { $org } knows.
error-home-wrong-invitee = You signed in to { $home } as { $account }, but the invitation is for { $email }.
error-upstream-down-title = Your organisation cannot be reached
error-upstream-down = Your organisation's sign-in service did not answer. Try again in a few minutes.
error-upstream-refused = Your organisation did not sign you in, so you cannot continue.
error-upstream-wrong-idp = The answer came from another identity provider than the one you were sent to.
error-upstream-unverified = Your organisation's answer could not be verified, so you cannot continue.
error-no-answer-title = No answer
error-no-answer = The form carries no SAML response.
error-retry-title = Try again shortly
error-retry = Sign-in is briefly unavailable. Try again in a minute.
error-bad-request-title = Bad request
error-bad-form = The form could not be read.
error-request-refused-title = Request refused
error-cross-site = This request did not come from a page of { $org }. Go back and try again.
error-invalid-request-title = Invalid sign-in request
error-invalid-request = The application sent you here with a request that cannot be used. Tell the application's owner; the details below help them.
error-signout-refused-title = Sign-out request refused
error-signout-refused = The application's sign-out request cannot be used. You have not been signed out; close the browser to end your session.
error-unavailable-title = Temporarily unavailable
error-unavailable = { $org } cannot sign you in right now. Try again in a moment.
error-internal-title = Something went wrong
error-internal = { $org } could not complete this step. Try again; if it keeps happening, tell the organisation's administrator.
error-too-large-title = Request too large
error-too-large = The form sent more than this page accepts.
error-go-to-myapps = Go to My Apps

## E-mail
mail-warning = Only accept invitations you expect. Invitations can be used for phishing.
mail-invite-subject = { $org } invited you to access its applications
mail-invite-headline = { $org } invited you
mail-invite-from-person = { $inviter } of { $org } ({ $domain }) invited you to collaborate.
mail-invite-from-org = { $org } ({ $domain }) invited you to collaborate.
mail-invite-message-intro = { $inviter } wrote:
mail-invite-body = Accept the invitation to sign in to the applications { $org } shares with you.
mail-invite-accept = Accept invitation
mail-invite-destination = After you accept, you will go to
mail-invite-block = Block future invitations from { $org }
mail-invite-privacy = Privacy statement of { $org }
mail-invite-no-privacy = { $org } has not provided a privacy statement.
mail-code-subject = Your { $org } verification code
mail-code-intro = Use this code to sign in to { $org }:
mail-code-expiry = The code expires in 10 minutes and works once.
mail-code-ignore = If you did not ask for a code, ignore this e-mail.
mail-notice-subject = Security notice for your { $org } account
mail-notice-added = An authenticator app was added to your { $org } account.
mail-notice-removed = An authenticator app was removed from your { $org } account.
mail-notice-recovery = New recovery codes were created for your { $org } account.
mail-notice-failures = Several wrong verification codes were entered for your { $org } account.
mail-notice-advice = If this was not you, change your password and tell the organisation's administrator.
