"""How mail clients write reply headers, separators and signatures, per language.

Data for the generated reply tests (tests/support/reply_clients.py). The strings follow
what each client writes: Thunderbird's attribution line is its localised
"mailnews.reply_header_ondateauthorwrote" ("On #2 #3, #1 wrote:"; Thunderbird keeps the
English line for uk, el and ja, and the he entry uses it as well); Gmail's and Apple
Mail's attribution lines, the field labels of the header block that Outlook (desktop,
web, mobile) and Samsung Email put above the quoted message, and each platform's device
signature are the forms these clients put into the mail they send. ``{name}`` and
``{addr}`` stand for the original sender; each header is for Monday 3 March 2025, 09:14.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Locale:
    """One language as the clients write it."""

    code: str
    gmail: str
    apple: str
    thunderbird: str
    #: Outlook header block labels: from, sent, to, subject (with their colon) and the date.
    outlook: tuple[str, str, str, str, str]
    #: Samsung Email: separator line, then from, date, to, subject labels.
    samsung: tuple[str, str, str, str, str]
    iphone: str
    samsung_signature: str
    outlook_mobile: str
    closing: str
    #: Two questions of the original mail and the two answers of the reply.
    questions: tuple[str, str]
    answers: tuple[str, str]


LOCALES: tuple[Locale, ...] = (
    Locale(
        "en",
        "On Mon, Mar 3, 2025 at 9:14 AM {name} <{addr}> wrote:",
        "On 3 Mar 2025, at 09:14, {name} <{addr}> wrote:",
        "On 03/03/2025 09:14, {name} wrote:",
        ("From:", "Sent:", "To:", "Subject:", "Monday, March 3, 2025 9:14 AM"),
        ("-------- Original message --------", "From:", "Date:", "To:", "Subject:"),
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Best regards,",
        ("Has the new laptop arrived?", "Does the docking station work?"),
        ("Yes, it arrived this morning.", "The docking station works fine."),
    ),
    Locale(
        "de",
        "Am Mo., 3. März 2025 um 09:14 Uhr schrieb {name} <{addr}>:",
        "Am 03.03.2025 um 09:14 schrieb {name} <{addr}>:",
        "Am 03.03.25 um 09:14 schrieb {name}:",
        ("Von:", "Gesendet:", "An:", "Betreff:", "Montag, 3. März 2025 09:14"),
        ("-------- Ursprüngliche Nachricht --------", "Von:", "Datum:", "An:", "Betreff:"),
        "Von meinem iPhone gesendet",
        "Von meinem Samsung Galaxy Smartphone gesendet.",
        "Outlook für iOS<https://aka.ms/o0ukef> herunterladen",
        "Viele Grüße",
        ("Ist der neue Laptop angekommen?", "Funktioniert die Dockingstation?"),
        ("Ja, er kam heute Morgen an.", "Die Dockingstation funktioniert gut."),
    ),
    Locale(
        "fr",
        "Le lun. 3 mars 2025 à 09:14, {name} <{addr}> a écrit :",
        "Le 3 mars 2025 à 09:14, {name} <{addr}> a écrit :",
        "Le 03/03/2025 à 09:14, {name} a écrit :",
        ("De :", "Envoyé :", "À :", "Objet :", "lundi 3 mars 2025 09:14"),
        ("-------- Message d'origine --------", "De :", "Date :", "À :", "Objet :"),
        "Envoyé de mon iPhone",
        "Envoyé depuis mon smartphone Samsung Galaxy.",
        "Obtenir Outlook pour iOS<https://aka.ms/o0ukef>",
        "Cordialement,",
        ("Le nouvel ordinateur est-il arrivé ?", "La station d'accueil fonctionne-t-elle ?"),
        ("Oui, il est arrivé ce matin.", "La station d'accueil fonctionne bien."),
    ),
    Locale(
        "es",
        "El lun, 3 mar 2025 a las 9:14, {name} (<{addr}>) escribió:",
        "El 3 mar 2025, a las 9:14, {name} <{addr}> escribió:",
        "El 3/3/25 a las 9:14, {name} escribió:",
        ("De:", "Enviado el:", "Para:", "Asunto:", "lunes, 3 de marzo de 2025 9:14"),
        ("-------- Mensaje original --------", "De:", "Fecha:", "Para:", "Asunto:"),
        "Enviado desde mi iPhone",
        "Enviado desde mi smartphone Samsung Galaxy.",
        "Obtener Outlook para iOS<https://aka.ms/o0ukef>",
        "Saludos cordiales,",
        ("¿Ha llegado el portátil nuevo?", "¿Funciona la base de conexión?"),
        ("Sí, llegó esta mañana.", "La base de conexión funciona bien."),
    ),
    Locale(
        "it",
        "Il giorno lun 3 mar 2025 alle ore 09:14 {name} <{addr}> ha scritto:",
        "Il giorno 3 mar 2025, alle ore 09:14, {name} <{addr}> ha scritto:",
        "Il 03/03/25 09:14, {name} ha scritto:",
        ("Da:", "Inviato:", "A:", "Oggetto:", "lunedì 3 marzo 2025 09:14"),
        ("-------- Messaggio originale --------", "Da:", "Data:", "A:", "Oggetto:"),
        "Inviato da iPhone",
        "Inviato dal mio smartphone Samsung Galaxy.",
        "Scarica Outlook per iOS<https://aka.ms/o0ukef>",
        "Cordiali saluti",
        ("È arrivato il nuovo portatile?", "La docking station funziona?"),
        ("Sì, è arrivato stamattina.", "La docking station funziona bene."),
    ),
    Locale(
        "pt",
        "Em seg., 3 de mar. de 2025 às 09:14, {name} <{addr}> escreveu:",
        "Em 3 de mar. de 2025, à(s) 09:14, {name} <{addr}> escreveu:",
        "Em 03/03/2025 09:14, {name} escreveu:",
        ("De:", "Enviado:", "Para:", "Assunto:", "segunda-feira, 3 de março de 2025 09:14"),
        ("-------- Mensagem original --------", "De:", "Data:", "Para:", "Assunto:"),
        "Enviado do meu iPhone",
        "Enviado do meu smartphone Samsung Galaxy.",
        "Obter o Outlook para iOS<https://aka.ms/o0ukef>",
        "Atenciosamente,",
        ("O notebook novo chegou?", "A estação de acoplamento funciona?"),
        ("Sim, chegou hoje de manhã.", "A estação de acoplamento funciona bem."),
    ),
    Locale(
        "nl",
        "Op ma 3 mrt 2025 om 09:14 schreef {name} <{addr}>:",
        "Op 3 mrt 2025 om 09:14 heeft {name} <{addr}> het volgende geschreven:",
        "Op 03-03-2025 om 09:14 schreef {name}:",
        ("Van:", "Verzonden:", "Aan:", "Onderwerp:", "maandag 3 maart 2025 09:14"),
        ("-------- Oorspronkelijk bericht --------", "Van:", "Datum:", "Aan:", "Onderwerp:"),
        "Verstuurd vanaf mijn iPhone",
        "Verzonden vanaf mijn Samsung Galaxy-smartphone.",
        "Outlook voor iOS<https://aka.ms/o0ukef> downloaden",
        "Met vriendelijke groet,",
        ("Is de nieuwe laptop aangekomen?", "Werkt het dockingstation?"),
        ("Ja, hij kwam vanochtend aan.", "Het dockingstation werkt prima."),
    ),
    Locale(
        "sv",
        "Den mån 3 mars 2025 kl 09:14 skrev {name} <{addr}>:",
        "3 mars 2025 kl. 09:14 skrev {name} <{addr}>:",
        "Den 2025-03-03 kl. 09:14, skrev {name}:",
        ("Från:", "Skickat:", "Till:", "Ämne:", "den 3 mars 2025 09:14"),
        ("-------- Originalmeddelande --------", "Från:", "Datum:", "Till:", "Ämne:"),
        "Skickat från min iPhone",
        "Skickat från min Samsung Galaxy-smarttelefon.",
        "Hämta Outlook för iOS<https://aka.ms/o0ukef>",
        "Vänliga hälsningar",
        ("Har den nya datorn kommit?", "Fungerar dockningsstationen?"),
        ("Ja, den kom i morse.", "Dockningsstationen fungerar bra."),
    ),
    Locale(
        "da",
        "Den man. 3. mar. 2025 kl. 09.14 skrev {name} <{addr}>:",
        "Den 3. mar. 2025 kl. 09.14 skrev {name} <{addr}>:",
        "Den 03-03-2025 kl. 09:14 skrev {name}:",
        ("Fra:", "Sendt:", "Til:", "Emne:", "3. marts 2025 09:14"),
        ("-------- Oprindelig meddelelse --------", "Fra:", "Dato:", "Til:", "Emne:"),
        "Sendt fra min iPhone",
        "Sendt fra min Samsung Galaxy-smartphone.",
        "Hent Outlook til iOS<https://aka.ms/o0ukef>",
        "Med venlig hilsen",
        ("Er den nye bærbare kommet?", "Virker dockingstationen?"),
        ("Ja, den kom i morges.", "Dockingstationen virker fint."),
    ),
    Locale(
        "nb",
        "man. 3. mar. 2025 kl. 09:14 skrev {name} <{addr}>:",
        "3. mar. 2025 kl. 09:14 skrev {name} <{addr}>:",
        "Den 03.03.2025 09:14, skrev {name}:",
        ("Fra:", "Sendt:", "Til:", "Emne:", "mandag 3. mars 2025 09:14"),
        ("-------- Opprinnelig melding --------", "Fra:", "Dato:", "Til:", "Emne:"),
        "Sendt fra min iPhone",
        "Sendt fra min Samsung Galaxy-smarttelefon.",
        "Få Outlook for iOS<https://aka.ms/o0ukef>",
        "Med vennlig hilsen",
        ("Har den nye PC-en kommet?", "Virker dokkingstasjonen?"),
        ("Ja, den kom i morges.", "Dokkingstasjonen virker fint."),
    ),
    Locale(
        "fi",
        "ma 3.3.2025 klo 9.14 {name} (<{addr}>) kirjoitti:",
        "{name} <{addr}> kirjoitti 3.3.2025 kello 9.14:",
        "3.3.2025, 9.14, {name} kirjoitti:",
        ("Lähettäjä:", "Lähetetty:", "Vastaanottaja:", "Aihe:", "maanantai 3. maaliskuuta 2025"),
        (
            "-------- Alkuperäinen viesti --------",
            "Lähettäjä:",
            "Päivämäärä:",
            "Vastaanottaja:",
            "Aihe:",
        ),
        "Lähetetty iPhonesta",
        "Lähetetty Samsung Galaxy -älypuhelimesta.",
        "Hanki Outlook for iOS<https://aka.ms/o0ukef>",
        "Ystävällisin terveisin",
        ("Onko uusi kannettava tullut?", "Toimiiko telakka?"),
        ("Kyllä, se tuli tänä aamuna.", "Telakka toimii hyvin."),
    ),
    Locale(
        "pl",
        "pon., 3 mar 2025 o 09:14 {name} <{addr}> napisał(a):",
        "Wiadomość napisana przez {name} <{addr}> w dniu 3 mar 2025, o godz. 09:14:",
        "W dniu 3.03.2025 o 09:14, {name} pisze:",
        ("Od:", "Wysłano:", "Do:", "Temat:", "poniedziałek, 3 marca 2025 09:14"),
        ("-------- Oryginalna wiadomość --------", "Od:", "Data:", "Do:", "Temat:"),
        "Wysłane z iPhone'a",
        "Wysłane z mojego smartfona Samsung Galaxy.",
        "Pobierz aplikację Outlook dla systemu iOS<https://aka.ms/o0ukef>",
        "Pozdrawiam",
        ("Czy nowy laptop dotarł?", "Czy stacja dokująca działa?"),
        ("Tak, dotarł dziś rano.", "Stacja dokująca działa dobrze."),
    ),
)
