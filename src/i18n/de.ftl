## Gatehouse — Deutsch. Dieselben Kennungen wie en.ftl.

## Seitenrahmen
brand-fallback = Gatehouse
footer = Geschützt durch Gatehouse
nav-label = Ihr Konto
nav-myapps = Meine Apps
nav-security-info = Sicherheitsinformationen
nav-sign-out = Abmelden

## Anmeldung
login-title = Anmelden
login-title-password = Passwort eingeben
login-title-code = Code eingeben
login-to-app = um mit <strong>{ $app }</strong> fortzufahren
login-email-label = E-Mail-Adresse
login-next = Weiter
login-code-sent = Wenn sich diese Adresse hier anmelden kann, haben wir ihr einen Einmalcode gesendet. Er läuft in 10 Minuten ab.
login-code-label = Code
login-sign-in = Anmelden
login-send-new-code = Neuen Code senden
login-other-account = Anderes Konto verwenden
login-password-label = Passwort
login-email-code-instead = Stattdessen einen Einmalcode per E-Mail senden
login-error-email = Geben Sie eine gültige E-Mail-Adresse ein.
login-error-password-empty = Geben Sie Ihr Passwort ein.
login-error-credentials = Die E-Mail-Adresse oder das Passwort ist falsch.
login-error-throttled = Zu viele fehlgeschlagene Anmeldungen. Warten Sie { $seconds ->
    [one] eine Sekunde
   *[other] { $seconds } Sekunden
} und versuchen Sie es erneut.
login-error-locked = Dieses Konto ist nach zu vielen fehlgeschlagenen Anmeldungen gesperrt. Versuchen Sie es in { $minutes ->
    [one] einer Minute
   *[other] { $minutes } Minuten
} erneut oder lassen Sie sich als Gast einen Einmalcode per E-Mail senden.
login-error-address-throttled = Aus Ihrem Netzwerk kamen zu viele fehlgeschlagene Anmeldungen. Warten Sie { $seconds ->
    [one] eine Sekunde
   *[other] { $seconds } Sekunden
} und versuchen Sie es erneut.
code-error-wrong = Dieser Code ist falsch oder abgelaufen.
code-error-void = Dieser Code gilt nicht mehr: Er wurde zu oft falsch eingegeben. Fordern Sie einen neuen Code an.
code-error-too-many-sends = Es wurden zu viele Codes angefordert. Warten Sie eine Weile und versuchen Sie es erneut.

## Zustimmung
consent-title = Angeforderte Berechtigungen
consent-lead = <strong>{ $app }</strong> möchte:
consent-scope-signin = Sie anmelden
consent-scope-profile = Ihren Namen sehen
consent-scope-email = Ihre E-Mail-Adresse sehen
consent-scope-offline = Den Zugriff behalten, während Sie abwesend sind
consent-signed-in-as = Angemeldet als { $email }
consent-allow = Zulassen
consent-cancel = Abbrechen

## Zweiter Faktor
mfa-title-totp = Bestätigungscode eingeben
mfa-title-mailbox = E-Mail-Adresse bestätigen
mfa-title-enroll = Authentifizierungs-App einrichten
mfa-title-recovery = Wiederherstellungscodes speichern
mfa-totp-intro = Öffnen Sie Ihre Authentifizierungs-App und geben Sie den Code ein, den sie für dieses Konto anzeigt.
mfa-verify = Bestätigen
mfa-lost-phone = Telefon verloren? Geben Sie stattdessen einen Ihrer Wiederherstellungscodes ein.
mfa-mailbox-intro = Bevor Sie eine Authentifizierungs-App einrichten, bestätigen Sie, dass dieses Postfach Ihnen gehört: Wir haben ihm einen Einmalcode gesendet. Er läuft in 10 Minuten ab.
mfa-mailbox-label = Code aus der E-Mail
mfa-continue = Weiter
mfa-enroll-intro = Diese Organisation verlangt bei der Anmeldung einen zweiten Schritt. Scannen Sie diesen QR-Code mit einer Authentifizierungs-App (jede App, die zeitbasierte Codes unterstützt), und geben Sie dann den angezeigten Code ein.
mfa-qr-label = QR-Code zum Scannen mit Ihrer Authentifizierungs-App
mfa-manual-key = Scannen nicht möglich? Geben Sie diesen Schlüssel in der App ein:
mfa-open-app = In einer Authentifizierungs-App auf diesem Gerät öffnen
mfa-enable = Bestätigen und aktivieren
mfa-recovery-intro = Ihre Authentifizierungs-App ist eingerichtet. Bewahren Sie diese Wiederherstellungscodes sicher auf: Jeder meldet Sie einmal an, falls Sie Ihr Telefon verlieren. Sie werden nicht noch einmal angezeigt.
mfa-recovery-saved = Ich habe sie gespeichert, weiter
mfa-error-throttled = Zu viele falsche Codes für dieses Konto. Warten Sie { $seconds ->
    [one] eine Sekunde
   *[other] { $seconds } Sekunden
} und versuchen Sie es erneut.
mfa-error-address-throttled = Aus Ihrem Netzwerk kamen zu viele falsche Codes. Warten Sie { $seconds ->
    [one] eine Sekunde
   *[other] { $seconds } Sekunden
} und versuchen Sie es erneut.
mfa-error-wrong = Dieser Code ist falsch. Codes gelten einmal und wechseln alle 30 Sekunden.
mfa-error-enroll-wrong = Dieser Code ist falsch. Prüfen Sie die Uhrzeit Ihres Telefons und geben Sie den aktuellen Code ein.
mfa-method-default = Authentifizierungs-App

## Einladungen
redeem-title-invited = Sie sind eingeladen
redeem-title-choose = Wie möchten Sie sich anmelden?
redeem-title-code = Prüfen Sie Ihre E-Mails
redeem-title-password = Passwort festlegen?
redeem-title-consent = Berechtigungen prüfen
redeem-invited = <strong>{ $inviter }</strong> von <strong>{ $org }</strong> hat <strong>{ $email }</strong> eingeladen, die Anwendungen von { $org } zu nutzen.
redeem-invited-by-org = <strong>{ $org }</strong> hat <strong>{ $email }</strong> eingeladen, seine Anwendungen zu nutzen.
redeem-destination = Nach der Annahme gelangen Sie zu { $destination }
redeem-signed-in-as = Sie sind bei { $org } als { $current } angemeldet. Wenn Sie annehmen, geht es als { $email } weiter, und { $current } wird hier abgemeldet.
redeem-warning = Nehmen Sie nur Einladungen an, die Sie erwarten.
redeem-accept-as = Einladung als { $email } annehmen
redeem-choose-intro = Melden Sie sich mit dem Konto Ihrer Organisation an, um die Einladung für <strong>{ $email }</strong> anzunehmen, oder lassen Sie sich einen Einmalcode per E-Mail senden.
redeem-sign-in-with = Mit { $idp } anmelden
redeem-code-sent = Wir haben einen Einmalcode an <strong>{ $email }</strong> gesendet. Er läuft in 10 Minuten ab.
redeem-password-intro = Sie können für { $email } bei { $org } ein Passwort festlegen oder sich weiterhin mit einem Code anmelden, den wir an Ihr Postfach senden.
redeem-password-label = Neues Passwort (mindestens 8 Zeichen)
redeem-set-password = Passwort festlegen
redeem-skip = Überspringen
redeem-consent-intro = <strong>{ $org }</strong> erhält:
redeem-consent-name = Ihren Namen
redeem-consent-email = Ihre E-Mail-Adresse ({ $email })
redeem-consent-id = Eine Kennung Ihres Kontos bei { $org }
redeem-privacy = Datenschutzerklärung von { $org } lesen
redeem-no-privacy = { $org } hat keine Datenschutzerklärung angegeben.
redeem-accept = Annehmen
redeem-declined-title = Einladung abgelehnt
redeem-declined = Es wurde nichts mit { $org } geteilt. Solange der Link gültig ist, können Sie später noch mit demselben Link annehmen.
redeem-error-password = Dieses Passwort kann nicht verwendet werden: { $reason }
password-too-short = Es muss mindestens 8 Zeichen haben.
password-too-long = Es ist zu lang.
password-blank = Es darf nicht nur aus Leerzeichen bestehen.
block-title = Einladungen blockieren
block-question = Keine Einladungen mehr von { $org } an { $email } erhalten?
block-button = Künftige Einladungen blockieren
block-done-title = Einladungen blockiert
block-done = { $org } sendet keine Einladungen mehr an { $email }.
held-waiting-title = Warten auf Genehmigung
held-waiting = Ihre Organisation hat nicht bestätigt, dass { $email }, die eingeladene Adresse, Ihnen gehört. { $org } wurde gebeten, das Konto zu genehmigen, mit dem Sie sich angemeldet haben. Sobald ein Administrator es genehmigt hat, melden Sie sich mit demselben Konto erneut bei der Anwendung an.
held-declined-title = Anfrage abgelehnt
held-declined = Ein Administrator von { $org } hat das Konto, mit dem Sie sich angemeldet haben, für die Einladung an { $email } abgelehnt.

## Meine Apps und Sicherheitsinformationen
myapps-title = Meine Apps
myapps-none = Hier stehen Ihnen noch keine Anwendungen zur Verfügung.
secinfo-title = Sicherheitsinformationen
secinfo-new-codes = Ihre neuen Wiederherstellungscodes. Jeder meldet Sie einmal an; die alten gelten nicht mehr. Sie werden nicht noch einmal angezeigt.
secinfo-methods = Anmeldemethoden
secinfo-password = Passwort
secinfo-method = { $name } · hinzugefügt am { $created }
secinfo-method-used = { $name } · hinzugefügt am { $created } · zuletzt verwendet am { $used }
secinfo-remove = Entfernen
secinfo-remove-label = { $name } vom { $created } entfernen
secinfo-recovery-left = { $count ->
    [one] Noch ein Wiederherstellungscode übrig.
   *[other] Noch { $count } Wiederherstellungscodes übrig.
}
secinfo-add = Authentifizierungs-App hinzufügen
secinfo-new-recovery = Neue Wiederherstellungscodes erstellen
secinfo-hint = Bevor Sie eine Methode entfernen oder Wiederherstellungscodes erstellen, wird Ihr zweiter Faktor abgefragt.
secinfo-notice-gone = Diese Methode gibt es nicht mehr.
secinfo-notice-removed = Die Authentifizierungs-App wurde entfernt.
secinfo-notice-added = Die Authentifizierungs-App wurde hinzugefügt.

## Abmeldung
logout-title = Abmelden
logout-question = Möchten Sie sich von { $org } abmelden?
logout-button = Abmelden
logout-done-title = Abgemeldet
logout-done = Sie wurden abgemeldet. Sie können dieses Fenster schließen.
logout-continue = Weiter
logout-frame-title = Abmeldehinweis an eine App

## Die Seite, die einer Anwendung eine Antwort übergibt
formpost-title = Weiter…
formpost-noscript = Ihr Browser führt keine Skripte aus; klicken Sie auf Weiter.
formpost-continue = Weiter

## Die Startseite des Servers
landing-title = Gatehouse
landing-intro = Dies ist ein Gatehouse-Identitätsanbieter: Organisationen melden hier ihre Mitarbeitenden und eingeladenen Partner mit OpenID Connect und SAML 2.0 bei ihren Anwendungen an.
landing-tenants = Jede Organisation hat ihre eigene Adresse, zum Beispiel /contoso/myapps für ihre Apps. Fragen Sie die Organisation, die Sie eingeladen hat, nach ihrem Link.
landing-docs = Dokumentation
landing-health = Dienststatus
landing-openapi = Beschreibung der Verwaltungs-API (OpenAPI)

## Fehlerseiten
error-details = Details für die Betreiber der Anwendung:
error-expired-title = Anmeldung abgelaufen
error-expired = Diese Anmeldeseite ist abgelaufen oder wurde in einem anderen Browser geöffnet. Kehren Sie zur Anwendung zurück und melden Sie sich erneut an.
error-federation-expired = Diese Anmeldung ist abgelaufen, wurde bereits verwendet oder in einem anderen Browser geöffnet. Kehren Sie zur Anwendung zurück und melden Sie sich erneut an.
error-invitation-title = Einladung nicht verfügbar
error-invitation-invalid = Dieser Einladungslink kann nicht verwendet werden. Er ist möglicherweise abgelaufen oder wurde zurückgezogen. Bitten Sie die Person, die Sie eingeladen hat, um eine neue Einladung.
error-invitation-domain = Die Organisation nimmt keine Gäste aus Ihrer Domäne mehr an.
error-invitation-handled = Diese Einladung wurde bereits bearbeitet. Melden Sie sich erneut bei der Anwendung an oder bitten Sie die Person, die Sie eingeladen hat, um eine neue Einladung.
error-unknown-tenant-title = Unbekannte Organisation
error-unknown-tenant = Unter dieser Adresse gibt es keine Organisation.
error-not-found-title = Seite nicht gefunden
error-not-found = Unter dieser Adresse gibt es nichts.
error-refused-title = Anmeldung abgelehnt
error-no-guest-account = { $org } hat für { $who } kein Gastkonto, das sich anmelden kann.
error-no-guest-account-partner = { $org } hat kein Gastkonto für das Konto, mit dem Sie sich bei { $partner } angemeldet haben.
error-not-assigned = Ihrem Konto wurde kein Zugriff auf { $app } gewährt. Bitten Sie den Administrator von { $org }, es Ihnen zuzuweisen.
error-unconfirmed-address = { $idp } hat nicht bestätigt, dass { $email }, die eingeladene Adresse, Ihnen gehört; die Einladung kann mit diesem Konto daher nicht angenommen werden.
your-organisation = Ihre Organisation
error-blocked-title = Zugriff blockiert
error-blocked = Die Zugriffsrichtlinien von { $org } erlauben diese Anmeldung nicht. Wenden Sie sich an den Administrator der Organisation.
error-not-invited-title = Nicht das eingeladene Konto
error-home-other-account = Sie haben sich bei { $home } als { $account } angemeldet; dieses Konto kennt { $org } nicht.
error-home-wrong-invitee = Sie haben sich bei { $home } als { $account } angemeldet, aber die Einladung gilt { $email }.
error-upstream-down-title = Ihre Organisation ist nicht erreichbar
error-upstream-down = Der Anmeldedienst Ihrer Organisation hat nicht geantwortet. Versuchen Sie es in einigen Minuten erneut.
error-upstream-refused = Ihre Organisation hat Sie nicht angemeldet; Sie können nicht fortfahren.
error-upstream-wrong-idp = Die Antwort kam von einem anderen Identitätsanbieter als dem, zu dem Sie geschickt wurden.
error-upstream-unverified = Die Antwort Ihrer Organisation konnte nicht überprüft werden; Sie können nicht fortfahren.
error-no-answer-title = Keine Antwort
error-no-answer = Das Formular enthält keine SAML-Antwort.
error-retry-title = Bitte gleich erneut versuchen
error-retry = Die Anmeldung ist kurzzeitig nicht verfügbar. Versuchen Sie es in einer Minute erneut.
error-bad-request-title = Ungültige Anfrage
error-bad-form = Das Formular konnte nicht gelesen werden.
error-request-refused-title = Anfrage abgelehnt
error-cross-site = Diese Anfrage kam nicht von einer Seite von { $org }. Gehen Sie zurück und versuchen Sie es erneut.
error-invalid-request-title = Ungültige Anmeldeanfrage
error-invalid-request = Die Anwendung hat Sie mit einer unbrauchbaren Anfrage hierher geschickt. Informieren Sie die Betreiber der Anwendung; die Details unten helfen ihnen.
error-signout-refused-title = Abmeldeanfrage abgelehnt
error-signout-refused = Die Abmeldeanfrage der Anwendung kann nicht verwendet werden. Sie wurden nicht abgemeldet; schließen Sie den Browser, um Ihre Sitzung zu beenden.
error-unavailable-title = Vorübergehend nicht verfügbar
error-unavailable = { $org } kann Sie gerade nicht anmelden. Versuchen Sie es gleich noch einmal.
error-internal-title = Etwas ist schiefgelaufen
error-internal = { $org } konnte diesen Schritt nicht abschließen. Versuchen Sie es erneut; wenn es wieder passiert, informieren Sie den Administrator der Organisation.
error-too-large-title = Anfrage zu groß
error-too-large = Das Formular hat mehr gesendet, als diese Seite annimmt.
error-go-to-myapps = Zu Meine Apps

## E-Mails
mail-warning = Nehmen Sie nur Einladungen an, die Sie erwarten. Einladungen können für Phishing missbraucht werden.
mail-invite-subject = { $org } hat Sie eingeladen, auf seine Anwendungen zuzugreifen
mail-invite-headline = { $org } hat Sie eingeladen
mail-invite-from-person = { $inviter } von { $org } ({ $domain }) lädt Sie zur Zusammenarbeit ein.
mail-invite-from-org = { $org } ({ $domain }) lädt Sie zur Zusammenarbeit ein.
mail-invite-message-intro = { $inviter } schreibt:
mail-invite-body = Nehmen Sie die Einladung an, um sich bei den Anwendungen anzumelden, die { $org } mit Ihnen teilt.
mail-invite-accept = Einladung annehmen
mail-invite-destination = Nach der Annahme gelangen Sie zu
mail-invite-block = Künftige Einladungen von { $org } blockieren
mail-invite-privacy = Datenschutzerklärung von { $org }
mail-invite-no-privacy = { $org } hat keine Datenschutzerklärung angegeben.
mail-code-subject = Ihr Bestätigungscode für { $org }
mail-code-intro = Melden Sie sich mit diesem Code bei { $org } an:
mail-code-expiry = Der Code läuft in 10 Minuten ab und gilt nur einmal.
mail-code-ignore = Wenn Sie keinen Code angefordert haben, ignorieren Sie diese E-Mail.
mail-notice-subject = Sicherheitshinweis zu Ihrem Konto bei { $org }
mail-notice-added = Ihrem Konto bei { $org } wurde eine Authentifizierungs-App hinzugefügt.
mail-notice-removed = Von Ihrem Konto bei { $org } wurde eine Authentifizierungs-App entfernt.
mail-notice-recovery = Für Ihr Konto bei { $org } wurden neue Wiederherstellungscodes erstellt.
mail-notice-failures = Für Ihr Konto bei { $org } wurden mehrere falsche Bestätigungscodes eingegeben.
mail-notice-advice = Falls Sie das nicht waren, ändern Sie Ihr Passwort und informieren Sie den Administrator der Organisation.
