## Gatehouse — français. Mêmes identifiants que en.ftl.

## Cadre des pages
brand-fallback = Gatehouse
footer = Sécurisé par Gatehouse
nav-label = Votre compte
nav-myapps = Mes applications
nav-security-info = Informations de sécurité
nav-sign-out = Se déconnecter

## Connexion
login-title = Connexion
login-title-password = Saisissez votre mot de passe
login-title-code = Saisissez votre code
login-to-app = pour continuer vers <strong>{ $app }</strong>
login-email-label = Adresse e-mail
login-next = Suivant
login-code-sent = Si cette adresse peut se connecter ici, nous lui avons envoyé un code à usage unique. Il expire dans 10 minutes.
login-code-label = Code
login-sign-in = Se connecter
login-send-new-code = Envoyer un nouveau code
login-other-account = Utiliser un autre compte
login-password-label = Mot de passe
login-email-code-instead = M'envoyer plutôt un code à usage unique par e-mail
login-error-email = Saisissez une adresse e-mail valide.
login-error-password-empty = Saisissez votre mot de passe.
login-error-credentials = L'adresse e-mail ou le mot de passe est incorrect.
login-error-throttled = Trop de tentatives de connexion ont échoué. Attendez { $seconds ->
    [one] une seconde
   *[other] { $seconds } secondes
} puis réessayez.
login-error-locked = Ce compte est verrouillé après trop de tentatives de connexion échouées. Réessayez dans { $minutes ->
    [one] une minute
   *[other] { $minutes } minutes
}, ou, si vous êtes invité, demandez un code à usage unique par e-mail.
login-error-address-throttled = Trop de tentatives de connexion échouées proviennent de votre réseau. Attendez { $seconds ->
    [one] une seconde
   *[other] { $seconds } secondes
} puis réessayez.
code-error-wrong = Ce code est incorrect ou a expiré.
code-error-void = Ce code ne fonctionne plus : il a été mal saisi trop de fois. Demandez un nouveau code.
code-error-too-many-sends = Trop de codes ont été demandés. Patientez un moment puis réessayez.

## Consentement
consent-title = Autorisations demandées
consent-lead = <strong>{ $app }</strong> demande à :
consent-scope-signin = Vous connecter
consent-scope-profile = Voir votre nom
consent-scope-email = Voir votre adresse e-mail
consent-scope-offline = Garder l'accès en votre absence
consent-signed-in-as = Connecté en tant que { $email }
consent-allow = Autoriser
consent-cancel = Annuler

## Second facteur
mfa-title-totp = Saisissez votre code de vérification
mfa-title-mailbox = Confirmez votre adresse e-mail
mfa-title-enroll = Configurez votre application d'authentification
mfa-title-recovery = Enregistrez vos codes de récupération
mfa-totp-intro = Ouvrez votre application d'authentification et saisissez le code qu'elle affiche pour ce compte.
mfa-verify = Vérifier
mfa-lost-phone = Téléphone perdu ? Saisissez plutôt l'un de vos codes de récupération.
mfa-mailbox-intro = Avant de configurer une application d'authentification, confirmez que cette boîte aux lettres vous appartient : nous lui avons envoyé un code à usage unique. Il expire dans 10 minutes.
mfa-mailbox-label = Code reçu par e-mail
mfa-continue = Continuer
mfa-enroll-intro = Cette organisation exige une seconde étape à la connexion. Scannez ce code QR avec une application d'authentification (toute application qui gère les codes temporels), puis saisissez le code qu'elle affiche.
mfa-qr-label = Code QR à scanner avec votre application d'authentification
mfa-manual-key = Impossible de scanner ? Saisissez cette clé dans l'application :
mfa-open-app = Ouvrir dans une application d'authentification sur cet appareil
mfa-enable = Vérifier et activer
mfa-recovery-intro = Votre application d'authentification est configurée. Conservez ces codes de récupération en lieu sûr : chacun vous connecte une fois si vous perdez votre téléphone. Ils ne seront plus affichés.
mfa-recovery-saved = Je les ai enregistrés, continuer
mfa-error-throttled = Trop de codes erronés pour ce compte. Attendez { $seconds ->
    [one] une seconde
   *[other] { $seconds } secondes
} puis réessayez.
mfa-error-address-throttled = Trop de codes erronés proviennent de votre réseau. Attendez { $seconds ->
    [one] une seconde
   *[other] { $seconds } secondes
} puis réessayez.
mfa-error-wrong = Ce code est incorrect. Chaque code ne sert qu'une fois et change toutes les 30 secondes.
mfa-error-enroll-wrong = Ce code est incorrect. Vérifiez l'heure de votre téléphone et saisissez le code actuel.
mfa-method-default = Application d'authentification

## Invitations
redeem-title-invited = Vous êtes invité
redeem-title-choose = Comment voulez-vous vous connecter ?
redeem-title-code = Consultez vos e-mails
redeem-title-password = Définir un mot de passe ?
redeem-title-consent = Vérifiez les autorisations
redeem-invited = <strong>{ $inviter }</strong> de <strong>{ $org }</strong> a invité <strong>{ $email }</strong> à utiliser les applications de { $org }.
redeem-invited-by-org = <strong>{ $org }</strong> a invité <strong>{ $email }</strong> à utiliser ses applications.
redeem-destination = Après avoir accepté, vous irez à { $destination }
redeem-signed-in-as = Vous êtes connecté à { $org } en tant que { $current }. Accepter continue en tant que { $email } et déconnecte { $current } ici.
redeem-warning = N'acceptez que les invitations que vous attendez.
redeem-accept-as = Accepter l'invitation en tant que { $email }
redeem-choose-intro = Connectez-vous avec le compte de votre organisation pour accepter l'invitation adressée à <strong>{ $email }</strong>, ou recevez un code à usage unique par e-mail.
redeem-sign-in-with = Se connecter avec { $idp }
redeem-code-sent = Nous avons envoyé un code à usage unique à <strong>{ $email }</strong>. Il expire dans 10 minutes.
redeem-password-intro = Vous pouvez définir un mot de passe pour { $email } chez { $org }, ou continuer à vous connecter avec un code envoyé dans votre boîte aux lettres.
redeem-password-label = Nouveau mot de passe (au moins 8 caractères)
redeem-set-password = Définir le mot de passe
redeem-skip = Passer
redeem-consent-intro = <strong>{ $org }</strong> recevra :
redeem-consent-name = Votre nom
redeem-consent-email = Votre adresse e-mail ({ $email })
redeem-consent-id = Un identifiant de votre compte chez { $org }
redeem-privacy = Lire la déclaration de confidentialité de { $org }
redeem-no-privacy = { $org } n'a pas fourni de déclaration de confidentialité.
redeem-accept = Accepter
redeem-declined-title = Invitation refusée
redeem-declined = Rien n'a été partagé avec { $org }. Vous pourrez encore accepter plus tard avec le même lien tant qu'il est valable.
redeem-error-password = Ce mot de passe ne peut pas être utilisé : { $reason }
password-too-short = il doit compter au moins 8 caractères.
password-too-long = il est trop long.
password-blank = il ne doit pas contenir que des espaces.
block-title = Bloquer les invitations
block-question = Ne plus recevoir d'invitations de { $org } à l'adresse { $email } ?
block-button = Bloquer les futures invitations
block-done-title = Invitations bloquées
block-done = { $org } n'enverra plus d'invitations à { $email }.
held-waiting-title = En attente d'approbation
held-waiting = Votre organisation n'a pas confirmé que { $email }, l'adresse invitée, vous appartient. { $org } doit approuver le compte avec lequel vous vous êtes connecté. Une fois qu'un administrateur l'aura approuvé, reconnectez-vous à l'application avec le même compte.
held-declined-title = Demande refusée
held-declined = Un administrateur de { $org } a refusé le compte avec lequel vous vous êtes connecté pour l'invitation adressée à { $email }.

## Mes applications et informations de sécurité
myapps-title = Mes applications
myapps-none = Aucune application ne vous est encore proposée ici.
secinfo-title = Informations de sécurité
secinfo-new-codes = Vos nouveaux codes de récupération. Chacun vous connecte une fois ; les anciens ne fonctionnent plus. Ils ne seront plus affichés.
secinfo-methods = Méthodes de connexion
secinfo-password = Mot de passe
secinfo-method = { $name } · ajoutée le { $created }
secinfo-method-used = { $name } · ajoutée le { $created } · dernière utilisation le { $used }
secinfo-remove = Supprimer
secinfo-remove-label = Supprimer { $name } ajoutée le { $created }
secinfo-recovery-left = { $count ->
    [one] Il reste un code de récupération.
   *[other] Il reste { $count } codes de récupération.
}
secinfo-add = Ajouter une application d'authentification
secinfo-new-recovery = Créer de nouveaux codes de récupération
secinfo-hint = Supprimer une méthode ou créer des codes de récupération demande d'abord votre second facteur.
secinfo-notice-gone = Cette méthode n'existe plus.
secinfo-notice-removed = L'application d'authentification a été supprimée.
secinfo-notice-added = L'application d'authentification a été ajoutée.

## Déconnexion
logout-title = Se déconnecter
logout-question = Voulez-vous vous déconnecter de { $org } ?
logout-button = Se déconnecter
logout-done-title = Déconnecté
logout-done = Vous êtes déconnecté. Vous pouvez fermer cette fenêtre.
logout-continue = Continuer
logout-frame-title = Avis de déconnexion à une application

## La page qui transmet une réponse à une application
formpost-title = Poursuite…
formpost-noscript = Votre navigateur n'exécute pas de scripts ; appuyez sur Continuer.
formpost-continue = Continuer

## La page d'accueil du serveur
landing-title = Gatehouse
landing-intro = Ceci est un fournisseur d'identité Gatehouse : les organisations y connectent leurs collaborateurs et leurs partenaires invités à leurs applications, avec OpenID Connect et SAML 2.0.
landing-tenants = Chaque organisation a sa propre adresse, par exemple /contoso/myapps pour ses applications. Demandez son lien à l'organisation qui vous a invité.
landing-docs = Documentation
landing-health = État du service
landing-openapi = Description de l'API d'administration (OpenAPI)

## Pages d'erreur
error-details = Détails pour le propriétaire de l'application :
error-expired-title = Connexion expirée
error-expired = Cette page de connexion a expiré ou a été ouverte dans un autre navigateur. Retournez à l'application et reconnectez-vous.
error-federation-expired = Cette connexion a expiré, a déjà été utilisée ou a été ouverte dans un autre navigateur. Retournez à l'application et reconnectez-vous.
error-invitation-title = Invitation indisponible
error-invitation-invalid = Ce lien d'invitation ne peut pas être utilisé. Il a peut-être expiré ou été retiré. Demandez une nouvelle invitation à la personne qui vous a invité.
error-invitation-domain = L'organisation n'accepte plus d'invités de votre domaine.
error-invitation-handled = Cette invitation a déjà été traitée. Reconnectez-vous à l'application, ou demandez une nouvelle invitation à la personne qui vous a invité.
error-unknown-tenant-title = Organisation inconnue
error-unknown-tenant = Aucune organisation ne se trouve à cette adresse.
error-not-found-title = Page introuvable
error-not-found = Il n'y a rien à cette adresse.
error-refused-title = Connexion refusée
error-no-guest-account = { $org } n'a pas de compte invité pour { $who } qui puisse se connecter.
error-no-guest-account-partner = { $org } n'a pas de compte invité pour le compte avec lequel vous vous êtes connecté chez { $partner }.
error-not-assigned = Votre compte n'a pas reçu l'accès à { $app }. Demandez à l'administrateur de { $org } de vous l'attribuer.
error-unconfirmed-address = { $idp } n'a pas confirmé que { $email }, l'adresse invitée, vous appartient ; l'invitation ne peut donc pas être acceptée avec ce compte.
your-organisation = Votre organisation
error-blocked-title = Accès bloqué
error-blocked = Les règles d'accès de { $org } n'autorisent pas cette connexion. Contactez l'administrateur de l'organisation.
error-not-invited-title = Ce n'est pas le compte invité
error-home-other-account = Vous vous êtes connecté à { $home } en tant que { $account }, qui n'est pas le compte que connaît { $org }.
error-home-wrong-invitee = Vous vous êtes connecté à { $home } en tant que { $account }, mais l'invitation est adressée à { $email }.
error-upstream-down-title = Votre organisation est injoignable
error-upstream-down = Le service de connexion de votre organisation n'a pas répondu. Réessayez dans quelques minutes.
error-upstream-refused = Votre organisation ne vous a pas connecté ; vous ne pouvez pas continuer.
error-upstream-wrong-idp = La réponse vient d'un autre fournisseur d'identité que celui vers lequel vous avez été envoyé.
error-upstream-unverified = La réponse de votre organisation n'a pas pu être vérifiée ; vous ne pouvez pas continuer.
error-no-answer-title = Aucune réponse
error-no-answer = Le formulaire ne contient pas de réponse SAML.
error-retry-title = Réessayez sous peu
error-retry = La connexion est brièvement indisponible. Réessayez dans une minute.
error-bad-request-title = Requête incorrecte
error-bad-form = Le formulaire n'a pas pu être lu.
error-request-refused-title = Requête refusée
error-cross-site = Cette requête ne provient pas d'une page de { $org }. Revenez en arrière et réessayez.
error-invalid-request-title = Demande de connexion invalide
error-invalid-request = L'application vous a envoyé ici avec une demande inutilisable. Prévenez le propriétaire de l'application ; les détails ci-dessous l'aideront.
error-signout-refused-title = Demande de déconnexion refusée
error-signout-refused = La demande de déconnexion de l'application ne peut pas être utilisée. Vous n'avez pas été déconnecté ; fermez le navigateur pour terminer votre session.
error-unavailable-title = Temporairement indisponible
error-unavailable = { $org } ne peut pas vous connecter pour le moment. Réessayez dans un instant.
error-internal-title = Une erreur s'est produite
error-internal = { $org } n'a pas pu terminer cette étape. Réessayez ; si le problème persiste, prévenez l'administrateur de l'organisation.
error-too-large-title = Requête trop volumineuse
error-too-large = Le formulaire envoyé dépasse ce que cette page accepte.
error-go-to-myapps = Aller à Mes applications

## E-mails
mail-warning = N'acceptez que les invitations que vous attendez. Des invitations peuvent servir à l'hameçonnage.
mail-invite-subject = { $org } vous a invité à accéder à ses applications
mail-invite-headline = { $org } vous a invité
mail-invite-from-person = { $inviter } de { $org } ({ $domain }) vous invite à collaborer.
mail-invite-from-org = { $org } ({ $domain }) vous invite à collaborer.
mail-invite-message-intro = { $inviter } a écrit :
mail-invite-body = Acceptez l'invitation pour vous connecter aux applications que { $org } partage avec vous.
mail-invite-accept = Accepter l'invitation
mail-invite-destination = Après avoir accepté, vous irez à
mail-invite-block = Bloquer les futures invitations de { $org }
mail-invite-privacy = Déclaration de confidentialité de { $org }
mail-invite-no-privacy = { $org } n'a pas fourni de déclaration de confidentialité.
mail-code-subject = Votre code de vérification { $org }
mail-code-intro = Utilisez ce code pour vous connecter à { $org } :
mail-code-expiry = Le code expire dans 10 minutes et ne sert qu'une fois.
mail-code-ignore = Si vous n'avez pas demandé de code, ignorez cet e-mail.
mail-notice-subject = Alerte de sécurité pour votre compte { $org }
mail-notice-added = Une application d'authentification a été ajoutée à votre compte { $org }.
mail-notice-removed = Une application d'authentification a été retirée de votre compte { $org }.
mail-notice-recovery = De nouveaux codes de récupération ont été créés pour votre compte { $org }.
mail-notice-failures = Plusieurs codes de vérification erronés ont été saisis pour votre compte { $org }.
mail-notice-advice = Si ce n'était pas vous, changez votre mot de passe et prévenez l'administrateur de l'organisation.
