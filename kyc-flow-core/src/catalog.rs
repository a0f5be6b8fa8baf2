//! The message catalog: every text the flow sends, per locale, and the WhatsApp templates used
//! outside the 24-hour window; plus the keywords (help, STOP, yes, no) understood in every
//! locale.
//!
//! The transition function only names keys ([`crate::MessageSpec`]); rendering happens at the
//! edge so a team can change wording or add a language without touching the machine. Spanish
//! variants share the Mexican wording except where Colombia or Peru say it differently
//! (*cédula*, *DNI*, *gafas*, …).

use crate::command::{MessageDelivery, MessageSpec};
use crate::data::{OutboundBody, ReplyButton};
use crate::evidence::RetakeReason;
use crate::locale::Locale;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Keys every flow may send whatever its steps.
pub const COMMON_KEYS: [&str; 21] = [
    "welcome",
    "help",
    "cancelled",
    "resume",
    "processing",
    "photos.received",
    "photos.kept",
    "guidance.photo_expected",
    "guidance.unsupported_media",
    "guidance.heic",
    "guidance.unreadable_message",
    "guidance.wait",
    "analysis.failed",
    "revoked.photo",
    "identity.changed",
    "status.approved",
    "status.rejected",
    "status.review",
    "status.closed",
    "consent.declined",
    "registry.checking",
];

/// Keys that may go out when the 24-hour window is closed (they need a template name).
pub const OUT_OF_WINDOW_KEYS: [&str; 5] = [
    "reminder",
    "expired",
    "decision.approved",
    "decision.rejected",
    "decision.review",
];

/// Keys of the consent step.
pub const CONSENT_KEYS: [&str; 4] = [
    "consent.ask",
    "consent.guidance",
    "button.accept",
    "button.decline",
];

/// Keys of a registry step whose check needs the user's phone number (WhatsApp's
/// contact-information request and the replies while waiting for it).
pub const CONTACT_KEYS: [&str; 3] = ["contact.request", "contact.card_shared", "contact.expected"];

/// Keys of a video-liveness step (its prompts, acknowledgement, guidance and the retake
/// prompts worded for a video note).
pub const VIDEO_KEYS: [&str; 8] = [
    "capture.video",
    "capture.video_one_side",
    "video.received",
    "guidance.video_expected",
    "video.retake.no_face",
    "video.retake.multiple_faces",
    "video.retake.face_mismatch",
    "video.retake.unreadable",
];

/// Button id of "I agree" on the consent prompt.
pub const CONSENT_ACCEPT: &str = "consent.accept";
/// Button id of "No thanks" on the consent prompt.
pub const CONSENT_DECLINE: &str = "consent.decline";

/// The catalog key of the retake prompt for `reason` (`retake.glare`, …).
pub fn retake_key(reason: RetakeReason) -> &'static str {
    match reason {
        RetakeReason::Glare => "retake.glare",
        RetakeReason::Blur => "retake.blur",
        RetakeReason::TooDark => "retake.too_dark",
        RetakeReason::Cropped => "retake.cropped",
        RetakeReason::TooSmall => "retake.too_small",
        RetakeReason::WrongDocument => "retake.wrong_document",
        RetakeReason::WrongSide => "retake.wrong_side",
        RetakeReason::Unreadable => "retake.unreadable",
        RetakeReason::DataMismatch => "retake.data_mismatch",
        RetakeReason::Expired => "retake.expired",
        RetakeReason::NoFace => "retake.no_face",
        RetakeReason::MultipleFaces => "retake.multiple_faces",
        RetakeReason::FaceTooSmall => "retake.face_too_small",
        RetakeReason::NotLive => "retake.not_live",
        RetakeReason::FaceMismatch => "retake.face_mismatch",
        RetakeReason::UnsupportedMedia => "retake.unsupported_media",
        RetakeReason::FaceNotDocument => "retake.face_not_document",
        RetakeReason::NoHeadTurn => "retake.no_head_turn",
        RetakeReason::ScreenReplay => "retake.screen_replay",
        RetakeReason::VideoTooLong => "retake.video_too_long",
    }
}

/// The catalog key of the retake prompt for `reason` at a video-liveness step: the face and
/// file reasons worded for a video note (`video.retake.no_face`, …), the others as
/// [`retake_key`].
pub fn video_retake_key(reason: RetakeReason) -> &'static str {
    match reason {
        RetakeReason::NoFace | RetakeReason::FaceTooSmall => "video.retake.no_face",
        RetakeReason::MultipleFaces => "video.retake.multiple_faces",
        RetakeReason::FaceMismatch => "video.retake.face_mismatch",
        RetakeReason::UnsupportedMedia | RetakeReason::Unreadable => "video.retake.unreadable",
        RetakeReason::NotLive => "retake.screen_replay",
        other => retake_key(other),
    }
}

/// WhatsApp template names for the keys that may be sent outside the 24-hour window.
/// The templates must be approved in the business account with the same wording.
const TEMPLATES: [(&str, &str); 5] = [
    ("reminder", "kyc_reminder"),
    ("expired", "kyc_expired"),
    ("decision.approved", "kyc_decision_approved"),
    ("decision.rejected", "kyc_decision_rejected"),
    ("decision.review", "kyc_decision_review"),
];

/// key, es-MX, es-CO, es-PE, pt-BR, en. An empty es-CO / es-PE text means "as es-MX".
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// Why a message could not be rendered. Always permanent: the catalog or the spec is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error("message `{key}` is missing in {locale}")]
    UnknownKey { key: String, locale: String },
    #[error("message `{key}` has placeholder {{{param}}} but no value was given")]
    MissingParam { key: String, param: String },
    #[error("message `{key}` has {count} buttons; WhatsApp allows 3")]
    TooManyButtons { key: String, count: usize },
    #[error("button label `{label_key}` is {len} characters; WhatsApp allows 20")]
    ButtonTooLong { label_key: String, len: usize },
    #[error("message `{key}` is a contact-information request, which carries its own button only")]
    ButtonsOnContactRequest { key: String },
}

impl CatalogError {
    /// Rendering errors never go away by retrying.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Messages per key and locale, and template names per key.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Catalog {
    messages: BTreeMap<String, BTreeMap<Locale, String>>,
    templates: BTreeMap<String, String>,
    /// Template names registered in the *marketing* category (priced higher); every other
    /// template is utility.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    marketing: std::collections::BTreeSet<String>,
}

const MESSAGES: &[Row] = &[
    (
        "welcome",
        "¡Hola! 👋 Vamos a verificar tu identidad aquí mismo en WhatsApp. Toma menos de 2 minutos: fotos de tu identificación y una selfie.",
        "¡Hola! 👋 Vamos a verificar tu identidad aquí mismo en WhatsApp. Te toma menos de 2 minutos: fotos de tu cédula y una selfie.",
        "¡Hola! 👋 Vamos a verificar tu identidad aquí mismo en WhatsApp. Te toma menos de 2 minutos: fotos de tu DNI y un selfie.",
        "Olá! 👋 Vamos verificar sua identidade aqui mesmo no WhatsApp. Leva menos de 2 minutos: fotos do seu documento e uma selfie.",
        "Hi! 👋 Let's verify your identity right here in WhatsApp. It takes under 2 minutes: photos of your ID and a selfie.",
    ),
    (
        "consent.ask",
        "Para continuar necesitamos tu autorización para tratar tus datos personales (fotos de tu identificación y selfie) solo para verificar tu identidad, conforme a nuestro aviso de privacidad. ¿Aceptas?",
        "Para continuar necesitamos tu autorización para el tratamiento de tus datos personales (fotos de tu cédula y selfie) solo para verificar tu identidad, según nuestra política de tratamiento de datos. ¿Aceptas?",
        "Para continuar necesitamos tu consentimiento para tratar tus datos personales (fotos de tu DNI y selfie) solo para verificar tu identidad, según nuestra política de privacidad. ¿Aceptas?",
        "Para continuar, precisamos do seu consentimento para tratar seus dados pessoais (fotos do documento e selfie) apenas para verificar sua identidade, conforme nossa política de privacidade. Você aceita?",
        "To continue we need your consent to process your personal data (photos of your ID and a selfie) only to verify your identity, as described in our privacy notice. Do you agree?",
    ),
    ("button.accept", "Acepto", "", "", "Aceito", "I agree"),
    (
        "button.decline",
        "No acepto",
        "",
        "",
        "Não aceito",
        "No thanks",
    ),
    (
        "consent.guidance",
        "Por favor toca «Acepto» o «No acepto» para continuar.",
        "",
        "",
        "Toque em «Aceito» ou «Não aceito» para continuar.",
        "Please tap “I agree” or “No thanks” to continue.",
    ),
    (
        "consent.declined",
        "Entendido, no usaremos tus datos. Si cambias de opinión, escríbenos cuando quieras.",
        "",
        "",
        "Tudo bem, não vamos usar seus dados. Se mudar de ideia, é só escrever.",
        "Understood, we won't use your data. If you change your mind, just write to us.",
    ),
    (
        "capture.front",
        "📸 Toma una foto del frente de tu identificación. Ponla sobre una superficie oscura, con buena luz, sin reflejos y con las 4 esquinas a la vista.",
        "📸 Tómale una foto a la parte de adelante de tu cédula. Ponla sobre una superficie oscura, con buena luz, sin reflejos y con las 4 esquinas a la vista.",
        "📸 Toma una foto de la cara delantera de tu DNI. Colócalo sobre una superficie oscura, con buena luz, sin reflejos y con las 4 esquinas a la vista.",
        "📸 Tire uma foto da frente do seu documento. Coloque-o numa superfície escura, com boa luz, sem reflexos e com as 4 pontas aparecendo.",
        "📸 Take a photo of the front of your ID. Lay it on a dark surface, in good light, with no glare and all 4 corners visible.",
    ),
    (
        "capture.back",
        "¡Listo! Ahora toma una foto de la parte de atrás de tu identificación, igual: buena luz y las 4 esquinas a la vista.",
        "¡Listo! Ahora tómale una foto a la parte de atrás de tu cédula, igual: buena luz y las 4 esquinas a la vista.",
        "¡Listo! Ahora toma una foto de la parte posterior de tu DNI, igual: buena luz y las 4 esquinas a la vista.",
        "Pronto! Agora tire uma foto do verso do documento, do mesmo jeito: boa luz e as 4 pontas aparecendo.",
        "Got it! Now take a photo of the back of your ID, same way: good light, all 4 corners visible.",
    ),
    (
        "capture.selfie",
        "Por último, tómate una selfie 🤳 de frente, con la cara descubierta (sin lentes ni gorra) y buena luz.",
        "Por último, tómate una selfie 🤳 de frente, con la cara descubierta (sin gafas ni gorra) y buena luz.",
        "Por último, tómate un selfie 🤳 de frente, con el rostro descubierto (sin lentes ni gorra) y buena luz.",
        "Por último, tire uma selfie 🤳 de frente, com o rosto descoberto (sem óculos nem boné) e boa luz.",
        "Last step: take a selfie 🤳 facing the camera, face uncovered (no glasses or cap), in good light.",
    ),
    (
        "capture.selfie_before_video",
        "Ahora tómate una selfie 🤳 de frente, con la cara descubierta (sin lentes ni gorra) y buena luz. Después te pediré una nota de video corta.",
        "Ahora tómate una selfie 🤳 de frente, con la cara descubierta (sin gafas ni gorra) y buena luz. Después te pediré una nota de video corta.",
        "Ahora tómate un selfie 🤳 de frente, con el rostro descubierto (sin lentes ni gorra) y buena luz. Después te pediré una nota de video corta.",
        "Agora tire uma selfie 🤳 de frente, com o rosto descoberto (sem óculos nem boné) e boa luz. Depois vou pedir uma nota de vídeo curta.",
        "Now take a selfie 🤳 facing the camera, face uncovered (no glasses or cap), in good light. After that I'll ask for a short video note.",
    ),
    (
        "processing",
        "Recibido ✅ Estoy revisando tu foto…",
        "",
        "",
        "Recebido ✅ Estou verificando sua foto…",
        "Got it ✅ Checking your photo…",
    ),
    (
        "photos.received",
        "Recibí {count} fotos ✅ Las estoy revisando…",
        "",
        "",
        "Recebi {count} fotos ✅ Estou verificando…",
        "Got {count} photos ✅ Checking them…",
    ),
    (
        "photos.kept",
        "👍 Ya guardé lo que me enviaste para el paso que le toca.",
        "",
        "",
        "👍 Já guardei o que você enviou para a etapa certa.",
        "👍 I've kept what you sent for the step it belongs to.",
    ),
    (
        "contact.request",
        "Para validar tus datos con el registro necesitamos tu número de celular. Toca el botón para compartirlo con nosotros 📱",
        "",
        "",
        "Para validar seus dados no registro precisamos do seu número de celular. Toque no botão para compartilhá-lo conosco 📱",
        "To check your details with the registry we need your mobile number. Tap the button to share it with us 📱",
    ),
    (
        "contact.card_shared",
        "Ese es un contacto compartido, no tu número. Usa el botón de abajo: así WhatsApp nos envía tu propio número.",
        "",
        "",
        "Esse é um contato compartilhado, não o seu número. Use o botão abaixo: assim o WhatsApp nos envia o seu próprio número.",
        "That's a shared contact card, not your number. Use the button below: that way WhatsApp sends us your own number.",
    ),
    (
        "contact.expected",
        "Para seguir necesito tu número: toca el botón del mensaje de abajo para compartirlo.",
        "",
        "",
        "Para continuar preciso do seu número: toque no botão da mensagem abaixo para compartilhá-lo.",
        "To go on I need your number: tap the button in the message below to share it.",
    ),
    (
        "registry.checking",
        "Gracias. Estamos validando tus datos con el registro oficial; puede tardar un momento ⏳",
        "Gracias. Estamos validando tus datos con la Registraduría; puede tardar un momento ⏳",
        "Gracias. Estamos validando tus datos con RENIEC; puede tardar un momento ⏳",
        "Obrigado. Estamos validando seus dados no registro oficial; pode levar um momento ⏳",
        "Thanks. We're checking your details with the official registry; this may take a moment ⏳",
    ),
    (
        "retake.glare",
        "Hay un reflejo sobre tu identificación y no se alcanza a leer. Aléjala de la luz directa o apaga el flash e inténtalo de nuevo.",
        "Hay un reflejo sobre tu cédula y no se alcanza a leer. Aléjala de la luz directa o apaga el flash e inténtalo de nuevo.",
        "Hay un reflejo sobre tu DNI y no se puede leer. Aléjalo de la luz directa o apaga el flash e inténtalo de nuevo.",
        "Tem um reflexo no documento e não dá para ler. Afaste da luz direta ou desligue o flash e tente de novo.",
        "There's glare on your ID and we can't read it. Move away from direct light or turn off the flash and try again.",
    ),
    (
        "retake.blur",
        "La foto salió borrosa. Sostén el celular firme, toca la pantalla para enfocar y vuelve a intentarlo.",
        "",
        "",
        "A foto ficou tremida. Segure o celular firme, toque na tela para focar e tente de novo.",
        "The photo is blurry. Hold your phone steady, tap the screen to focus and try again.",
    ),
    (
        "retake.too_dark",
        "La foto quedó muy oscura. Busca un lugar con más luz e inténtalo otra vez.",
        "",
        "",
        "A foto ficou muito escura. Procure um lugar com mais luz e tente de novo.",
        "The photo is too dark. Find a brighter spot and try again.",
    ),
    (
        "retake.cropped",
        "No se ven las 4 esquinas. Aleja un poco el celular para que quepa completa e inténtalo de nuevo.",
        "",
        "No se ven las 4 esquinas. Aleja un poco el celular para que entre completo e inténtalo de nuevo.",
        "Não dá para ver as 4 pontas. Afaste um pouco o celular para o documento caber inteiro e tente de novo.",
        "We can't see all 4 corners. Move your phone back a little so the whole card fits, then try again.",
    ),
    (
        "retake.too_small",
        "Tu identificación se ve muy pequeña. Acerca el celular para que ocupe casi toda la foto.",
        "Tu cédula se ve muy pequeña. Acerca el celular para que ocupe casi toda la foto.",
        "Tu DNI se ve muy pequeño. Acerca el celular para que ocupe casi toda la foto.",
        "O documento ficou muito pequeno. Aproxime o celular para ele ocupar quase toda a foto.",
        "Your ID looks too small. Move closer so it fills most of the photo.",
    ),
    (
        "retake.wrong_document",
        "Ese documento no es el que necesitamos. Envíanos una foto de tu credencial para votar (INE).",
        "Ese documento no es el que necesitamos. Envíanos una foto de tu cédula de ciudadanía.",
        "Ese documento no es el que necesitamos. Envíanos una foto de tu DNI.",
        "Esse não é o documento que precisamos. Envie uma foto do seu documento de identidade.",
        "That's not the document we need. Please send a photo of your national ID card.",
    ),
    (
        "retake.wrong_side",
        "Parece que es el otro lado. Voltea tu identificación y envía el lado que te pedimos.",
        "Parece que es el otro lado. Voltea tu cédula y envía el lado que te pedimos.",
        "Parece que es el otro lado. Voltea tu DNI y envía el lado que te pedimos.",
        "Parece que é o outro lado. Vire o documento e envie o lado que pedimos.",
        "Looks like that's the other side. Flip your ID over and send the side we asked for.",
    ),
    (
        "retake.unreadable",
        "No pudimos leer bien los datos. Toma la foto de frente, sin inclinarla y con buena luz.",
        "",
        "",
        "Não conseguimos ler os dados. Tire a foto de frente, sem inclinar e com boa luz.",
        "We couldn't read the details. Take the photo straight on, without tilting, in good light.",
    ),
    (
        "retake.data_mismatch",
        "Algunos datos no coinciden entre sí. Toma otra foto bien enfocada para leerlos de nuevo.",
        "",
        "",
        "Alguns dados não batem entre si. Tire outra foto bem focada para lermos de novo.",
        "Some details don't match each other. Please take another sharp photo so we can read them again.",
    ),
    (
        "retake.expired",
        "Esta identificación parece estar vencida. Si tienes una vigente, envíanos la foto.",
        "Esta cédula parece no estar vigente. Si tienes una vigente, envíanos la foto.",
        "Este DNI parece estar vencido. Si tienes uno vigente, envíanos la foto.",
        "Este documento parece estar vencido. Se tiver um válido, envie a foto.",
        "This ID looks expired. If you have a valid one, send us a photo of it.",
    ),
    (
        "retake.no_face",
        "No encontramos tu cara en la foto. Tómate la selfie de frente, con toda la cara dentro del cuadro.",
        "",
        "No encontramos tu rostro en la foto. Tómate el selfie de frente, con todo el rostro dentro del cuadro.",
        "Não encontramos seu rosto na foto. Tire a selfie de frente, com o rosto inteiro no quadro.",
        "We couldn't find your face. Take the selfie facing the camera with your whole face in frame.",
    ),
    (
        "retake.multiple_faces",
        "Aparece más de una cara. Tómate la selfie sin nadie más en la foto.",
        "",
        "Aparece más de un rostro. Tómate el selfie sin nadie más en la foto.",
        "Aparece mais de um rosto. Tire a selfie sem mais ninguém na foto.",
        "There's more than one face. Take the selfie with nobody else in the picture.",
    ),
    (
        "retake.face_too_small",
        "Tu cara se ve muy lejos. Acerca el celular para que ocupe buena parte de la foto.",
        "",
        "Tu rostro se ve muy lejos. Acerca el celular para que ocupe buena parte de la foto.",
        "Seu rosto está muito longe. Aproxime o celular para ele ocupar boa parte da foto.",
        "Your face is too far away. Bring the phone closer so your face fills more of the photo.",
    ),
    (
        "retake.not_live",
        "No pudimos confirmar que la selfie sea en vivo. Tómala directo con la cámara, no a otra foto ni a una pantalla.",
        "",
        "No pudimos confirmar que el selfie sea en vivo. Tómalo directo con la cámara, no a otra foto ni a una pantalla.",
        "Não conseguimos confirmar que a selfie é ao vivo. Tire direto com a câmera, não de outra foto nem de uma tela.",
        "We couldn't confirm the selfie was taken live. Take it directly with your camera, not of another photo or a screen.",
    ),
    (
        "retake.face_mismatch",
        "Tu selfie no se parece lo suficiente a la foto de tu identificación. Intenta otra de frente, con buena luz y sin lentes.",
        "Tu selfie no se parece lo suficiente a la foto de tu cédula. Intenta otra de frente, con buena luz y sin gafas.",
        "Tu selfie no se parece lo suficiente a la foto de tu DNI. Intenta otro de frente, con buena luz y sin lentes.",
        "Sua selfie não se parece o suficiente com a foto do documento. Tente outra de frente, com boa luz e sem óculos.",
        "Your selfie doesn't match the photo on your ID closely enough. Try another facing the camera, in good light, without glasses.",
    ),
    (
        "retake.unsupported_media",
        "No pudimos abrir esa foto o archivo. Envía otra foto (JPG o PNG) tomada con la cámara.",
        "",
        "",
        "Não conseguimos abrir essa foto ou arquivo. Envie outra foto (JPG ou PNG) tirada com a câmera.",
        "We couldn't open that photo or file. Please send another photo (JPG or PNG) taken with your camera.",
    ),
    (
        "retake.face_not_document",
        "Esa foto parece una selfie 🤳. Ahora necesito la foto de tu identificación, con las 4 esquinas a la vista.",
        "Esa foto parece una selfie 🤳. Ahora necesito la foto de tu cédula, con las 4 esquinas a la vista.",
        "Esa foto parece un selfie 🤳. Ahora necesito la foto de tu DNI, con las 4 esquinas a la vista.",
        "Essa foto parece uma selfie 🤳. Agora preciso da foto do seu documento, com as 4 pontas aparecendo.",
        "That photo looks like a selfie 🤳. Right now I need a photo of your ID, with all 4 corners visible.",
    ),
    (
        "retake.no_head_turn",
        "No vimos que giraras la cabeza. Graba otra nota de video: mira a la cámara y gira la cabeza despacio a un lado y luego al otro.",
        "",
        "",
        "Não vimos você virar a cabeça. Grave outra nota de vídeo: olhe para a câmera e vire a cabeça devagar para um lado e depois para o outro.",
        "We didn't see you turn your head. Record another video note: look at the camera, then slowly turn your head to one side and then the other.",
    ),
    (
        "retake.screen_replay",
        "Parece que el video se grabó de una pantalla. Graba la nota de video directo con la cámara frontal de tu celular.",
        "",
        "",
        "Parece que o vídeo foi gravado de uma tela. Grave a nota de vídeo direto com a câmera frontal do seu celular.",
        "That video looks like it was recorded from a screen. Record the video note directly with your phone's front camera.",
    ),
    (
        "retake.video_too_long",
        "Ese video es demasiado largo o pesado. Graba una nota de video corta, de unos 5 segundos.",
        "",
        "",
        "Esse vídeo é longo ou pesado demais. Grave uma nota de vídeo curta, de uns 5 segundos.",
        "That video is too long or too large. Record a short video note, about 5 seconds.",
    ),
    (
        "capture.video",
        "Un último paso 🎥: graba una nota de video corta (mantén presionado el ícono de la cámara junto al micrófono). Mira a la cámara y gira la cabeza despacio a la izquierda y luego a la derecha.",
        "",
        "",
        "Um último passo 🎥: grave uma nota de vídeo curta (segure o ícone da câmera ao lado do microfone). Olhe para a câmera e vire a cabeça devagar para a esquerda e depois para a direita.",
        "One more step 🎥: record a short video note (hold the camera icon next to the microphone). Look at the camera, then slowly turn your head left, then right.",
    ),
    (
        "capture.video_one_side",
        "Un último paso 🎥: graba una nota de video corta (mantén presionado el ícono de la cámara junto al micrófono). Mira a la cámara y gira la cabeza despacio hacia un lado.",
        "",
        "",
        "Um último passo 🎥: grave uma nota de vídeo curta (segure o ícone da câmera ao lado do microfone). Olhe para a câmera e vire a cabeça devagar para um lado.",
        "One more step 🎥: record a short video note (hold the camera icon next to the microphone). Look at the camera, then slowly turn your head to one side.",
    ),
    (
        "video.received",
        "Recibido ✅ Estoy revisando tu video…",
        "",
        "",
        "Recebido ✅ Estou verificando seu vídeo…",
        "Got it ✅ Checking your video…",
    ),
    (
        "guidance.video_expected",
        "Para este paso necesito una nota de video 🎥, no una foto ni texto. Mantén presionado el ícono de la cámara junto al micrófono para grabarla.",
        "",
        "",
        "Para este passo preciso de uma nota de vídeo 🎥, não de uma foto nem de texto. Segure o ícone da câmera ao lado do microfone para gravar.",
        "For this step I need a video note 🎥, not a photo or text. Hold the camera icon next to the microphone to record one.",
    ),
    (
        "video.retake.no_face",
        "No vimos bien tu cara en el video. Graba otra nota de video con toda la cara dentro del círculo y buena luz.",
        "",
        "No vimos bien tu rostro en el video. Graba otra nota de video con todo el rostro dentro del círculo y buena luz.",
        "Não vimos bem o seu rosto no vídeo. Grave outra nota de vídeo com o rosto inteiro dentro do círculo e boa luz.",
        "We couldn't see your face clearly in the video. Record another video note with your whole face inside the circle, in good light.",
    ),
    (
        "video.retake.multiple_faces",
        "Aparece más de una cara en el video. Graba otra nota de video sin nadie más en cuadro.",
        "",
        "Aparece más de un rostro en el video. Graba otra nota de video sin nadie más en cuadro.",
        "Aparece mais de um rosto no vídeo. Grave outra nota de vídeo sem mais ninguém no quadro.",
        "There's more than one face in the video. Record another video note with nobody else in the frame.",
    ),
    (
        "video.retake.face_mismatch",
        "La cara del video no coincide con la de tu identificación. Graba la nota de video tú mismo, de frente y con buena luz.",
        "La cara del video no coincide con la de tu cédula. Graba la nota de video tú mismo, de frente y con buena luz.",
        "El rostro del video no coincide con el de tu DNI. Graba la nota de video tú mismo, de frente y con buena luz.",
        "O rosto do vídeo não corresponde ao do seu documento. Grave a nota de vídeo você mesmo, de frente e com boa luz.",
        "The face in the video doesn't match your ID. Record the video note yourself, facing the camera, in good light.",
    ),
    (
        "video.retake.unreadable",
        "No pudimos abrir ese video. Graba una nota de video nueva directo en WhatsApp (no reenviada ni como archivo).",
        "",
        "",
        "Não conseguimos abrir esse vídeo. Grave uma nota de vídeo nova direto no WhatsApp (não encaminhada nem como arquivo).",
        "We couldn't open that video. Record a new video note directly in WhatsApp (not forwarded, not as a file).",
    ),
    (
        "guidance.photo_expected",
        "Para este paso necesito una foto 📷. Toca el clip o la cámara para enviarla. Escribe AYUDA si tienes dudas.",
        "",
        "",
        "Para este passo preciso de uma foto 📷. Toque no clipe ou na câmera para enviar. Escreva AJUDA se tiver dúvidas.",
        "For this step I need a photo 📷. Tap the clip or camera icon to send one. Type HELP if you're stuck.",
    ),
    (
        "guidance.unsupported_media",
        "Eso no me sirve para este paso. Necesito una foto 📷 (no video, audio ni sticker).",
        "",
        "",
        "Isso não serve para este passo. Preciso de uma foto 📷 (não vídeo, áudio nem figurinha).",
        "I can't use that for this step. I need a photo 📷 (not a video, voice note or sticker).",
    ),
    (
        "guidance.heic",
        "Ese archivo es HEIC (el formato de fotos del iPhone) y no puedo abrirlo. Envíalo como foto desde la galería 📷, no como documento.",
        "",
        "",
        "Esse arquivo é HEIC (o formato de fotos do iPhone) e não consigo abri-lo. Envie como foto pela galeria 📷, não como documento.",
        "That file is HEIC (the iPhone's photo format) and I can't open it. Send it as a photo from your gallery 📷, not as a document.",
    ),
    (
        "guidance.unreadable_message",
        "WhatsApp no me dejó abrir ese mensaje. Si era una foto de «ver una vez», envíala como foto normal 📷.",
        "",
        "",
        "O WhatsApp não me deixou abrir essa mensagem. Se era uma foto de «visualização única», envie como foto normal 📷.",
        "WhatsApp didn't let me open that message. If it was a \"view once\" photo, send it as a normal photo 📷.",
    ),
    (
        "guidance.wait",
        "Sigo revisando, dame unos segundos ⏳",
        "",
        "",
        "Ainda estou verificando, só um instante ⏳",
        "Still checking, just a few seconds ⏳",
    ),
    (
        "help",
        "Te ayudo 🙂 Sigue las indicaciones del mensaje de abajo. Si algo no funciona, intenta con otra luz o de frente. Escribe CANCELAR para salir.",
        "",
        "",
        "Estou aqui para ajudar 🙂 Siga as instruções da mensagem abaixo. Se algo não funcionar, tente com outra luz ou de frente. Escreva PARAR para sair.",
        "Happy to help 🙂 Follow the instructions in the message below. If something isn't working, try different light or a straight-on angle. Type STOP to quit.",
    ),
    (
        "cancelled",
        "Listo, cancelamos tu verificación y no seguiremos usando tus datos. Puedes empezar de nuevo cuando quieras.",
        "",
        "",
        "Pronto, cancelamos sua verificação e não vamos mais usar seus dados. Você pode recomeçar quando quiser.",
        "Done, we've cancelled your verification and won't use your data any further. You can start again anytime.",
    ),
    (
        "resume",
        "¡Qué bueno que volviste! Sigamos donde nos quedamos 👇",
        "¡Qué bien que volviste! Sigamos donde íbamos 👇",
        "",
        "Que bom que você voltou! Vamos continuar de onde paramos 👇",
        "Welcome back! Let's pick up where we left off 👇",
    ),
    (
        "reminder",
        "¿Sigues ahí? 👋 Tu verificación va a medias, solo faltan unos pasos. Responde este mensaje para continuar.",
        "",
        "",
        "Ainda está aí? 👋 Sua verificação está pela metade, faltam só alguns passos. Responda esta mensagem para continuar.",
        "Still there? 👋 Your verification is halfway done, just a few steps left. Reply to this message to continue.",
    ),
    (
        "expired",
        "Tu verificación expiró por inactividad. Si quieres intentarlo de nuevo, escríbenos.",
        "",
        "",
        "Sua verificação expirou por inatividade. Se quiser tentar de novo, é só escrever.",
        "Your verification expired due to inactivity. If you'd like to try again, just write to us.",
    ),
    (
        "analysis.failed",
        "Tuvimos un problema al procesar tu foto 😕 ¿Nos la envías otra vez?",
        "",
        "",
        "Tivemos um problema ao processar sua foto 😕 Pode enviar de novo?",
        "We had trouble processing your photo 😕 Could you send it again?",
    ),
    (
        "revoked.photo",
        "Vimos que borraste una foto. Por favor envíala de nuevo para continuar.",
        "",
        "",
        "Vimos que você apagou uma foto. Envie de novo para continuar.",
        "We noticed you deleted a photo. Please send it again to continue.",
    ),
    (
        "identity.changed",
        "Detectamos un cambio en tu cuenta de WhatsApp, así que una persona de nuestro equipo revisará tu verificación. Te avisaremos por aquí.",
        "",
        "",
        "Detectamos uma mudança na sua conta do WhatsApp, então alguém da nossa equipe vai revisar sua verificação. Avisaremos por aqui.",
        "We noticed a change to your WhatsApp account, so someone on our team will review your verification. We'll let you know here.",
    ),
    (
        "decision.approved",
        "¡Listo! ✅ Tu identidad quedó verificada. Ya puedes continuar.",
        "",
        "",
        "Pronto! ✅ Sua identidade foi verificada. Você já pode continuar.",
        "All done! ✅ Your identity is verified. You're good to go.",
    ),
    (
        "decision.rejected",
        "No pudimos verificar tu identidad con la información enviada. Si crees que es un error, contáctanos.",
        "",
        "",
        "Não conseguimos verificar sua identidade com as informações enviadas. Se acha que é um erro, fale com a gente.",
        "We couldn't verify your identity with the information provided. If you think this is a mistake, please contact us.",
    ),
    (
        "decision.review",
        "Gracias 🙌 Una persona de nuestro equipo revisará tu verificación y te avisaremos por aquí.",
        "",
        "",
        "Obrigado 🙌 Alguém da nossa equipe vai revisar sua verificação e avisaremos por aqui.",
        "Thanks 🙌 Someone on our team will review your verification and we'll let you know here.",
    ),
    (
        "status.approved",
        "Tu identidad ya está verificada ✅ No necesitas hacer nada más.",
        "",
        "",
        "Sua identidade já está verificada ✅ Não precisa fazer mais nada.",
        "Your identity is already verified ✅ Nothing else to do.",
    ),
    (
        "status.rejected",
        "Tu verificación no fue aprobada. Si crees que es un error, contáctanos.",
        "",
        "",
        "Sua verificação não foi aprovada. Se acha que é um erro, fale com a gente.",
        "Your verification wasn't approved. If you think this is a mistake, please contact us.",
    ),
    (
        "status.review",
        "Tu verificación sigue en revisión ⏳ Te avisaremos por aquí en cuanto esté lista.",
        "",
        "",
        "Sua verificação ainda está em análise ⏳ Avisaremos por aqui assim que estiver pronta.",
        "Your verification is still under review ⏳ We'll let you know here as soon as it's done.",
    ),
    (
        "status.closed",
        "Esta verificación ya terminó y no se puede reiniciar por aquí. Si necesitas ayuda, contáctanos.",
        "",
        "",
        "Esta verificação já foi encerrada e não pode ser reiniciada por aqui. Se precisar de ajuda, fale com a gente.",
        "This verification has ended and can't be restarted here. If you need help, please contact us.",
    ),
];

/// A word the user may type at any step, in any supported language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keyword {
    Help,
    Stop,
    Yes,
    No,
    /// Switch the conversation to this language (`English`, `Español`, `Português`). Spanish
    /// switches to the flow's own Spanish variant when it has one.
    Language(Locale),
}

/// Normalized (lower-case, accent-free) keywords. Every locale's words are accepted in every
/// session: people switch languages, and "stop" must always work.
const KEYWORDS: &[(&str, Keyword)] = &[
    ("stop", Keyword::Stop),
    ("alto", Keyword::Stop),
    ("cancelar", Keyword::Stop),
    ("cancel", Keyword::Stop),
    ("parar", Keyword::Stop),
    ("pare", Keyword::Stop),
    ("sair", Keyword::Stop),
    ("salir", Keyword::Stop),
    ("baja", Keyword::Stop),
    ("unsubscribe", Keyword::Stop),
    ("ayuda", Keyword::Help),
    ("ajuda", Keyword::Help),
    ("help", Keyword::Help),
    ("menu", Keyword::Help),
    ("si", Keyword::Yes),
    ("sim", Keyword::Yes),
    ("yes", Keyword::Yes),
    ("ok", Keyword::Yes),
    ("acepto", Keyword::Yes),
    ("aceptar", Keyword::Yes),
    ("aceito", Keyword::Yes),
    ("i agree", Keyword::Yes),
    ("agree", Keyword::Yes),
    ("de acuerdo", Keyword::Yes),
    ("claro", Keyword::Yes),
    ("no", Keyword::No),
    ("nao", Keyword::No),
    ("no acepto", Keyword::No),
    ("nao aceito", Keyword::No),
    ("no thanks", Keyword::No),
    ("english", Keyword::Language(Locale::En)),
    ("in english", Keyword::Language(Locale::En)),
    ("ingles", Keyword::Language(Locale::En)),
    ("espanol", Keyword::Language(Locale::EsMx)),
    ("spanish", Keyword::Language(Locale::EsMx)),
    ("en espanol", Keyword::Language(Locale::EsMx)),
    ("portugues", Keyword::Language(Locale::PtBr)),
    ("portuguese", Keyword::Language(Locale::PtBr)),
    ("em portugues", Keyword::Language(Locale::PtBr)),
];

/// Lower-case, fold Spanish/Portuguese accents, drop punctuation and emoji, collapse spaces.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            c => c,
        };
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        } else if c.is_whitespace() {
            space = true;
        }
    }
    out
}

/// The keyword a message is, if it is one (the whole message, not a word inside a sentence:
/// "no tengo luz" is not a refusal).
pub fn keyword(text: &str) -> Option<Keyword> {
    // Cheap reject before allocating: keywords are short.
    if text.len() > 40 {
        return None;
    }
    let n = normalize(text);
    KEYWORDS.iter().find(|(k, _)| *k == n).map(|&(_, kw)| kw)
}

/// Longest reply-button title WhatsApp accepts.
pub const MAX_BUTTON_TITLE: usize = 20;

impl Catalog {
    /// The built-in catalog: es-MX, es-CO, es-PE, pt-BR and en.
    pub fn builtin() -> Self {
        let mut c = Self::default();
        for &(key, mx, co, pe, br, en) in MESSAGES {
            let pick = |v: &'static str| if v.is_empty() { mx } else { v };
            c.set(key, Locale::EsMx, mx);
            c.set(key, Locale::EsCo, pick(co));
            c.set(key, Locale::EsPe, pick(pe));
            c.set(key, Locale::PtBr, br);
            c.set(key, Locale::En, en);
        }
        for (key, name) in TEMPLATES {
            c.templates.insert(key.to_owned(), name.to_owned());
        }
        c
    }

    /// Overrides in TOML, the shape a team edits to change wording without forking:
    ///
    /// ```toml
    /// [messages."consent.ask"]
    /// es-MX = "¿Nos das tu permiso para verificar tu identidad?"
    /// en = "May we verify your identity?"
    ///
    /// [templates]
    /// reminder = "acme_kyc_reminder"
    ///
    /// # templates Meta categorised as marketing (the cost estimate prices them so)
    /// marketing = ["acme_kyc_reminder"]
    /// ```
    ///
    /// Merge the result over [`Catalog::builtin`] with [`Catalog::merge`], then check the flows
    /// against it with [`crate::Flow::validate`].
    pub fn from_toml(s: &str) -> Result<Self, toml::de::Error> {
        #[derive(Deserialize)]
        struct Overrides {
            #[serde(default)]
            messages: BTreeMap<String, BTreeMap<Locale, String>>,
            #[serde(default)]
            templates: BTreeMap<String, String>,
            #[serde(default)]
            marketing: std::collections::BTreeSet<String>,
        }
        let o: Overrides = toml::from_str(s)?;
        Ok(Self {
            messages: o.messages,
            templates: o.templates,
            marketing: o.marketing,
        })
    }

    /// Add or replace every text and template of `other` in this catalog.
    pub fn merge(&mut self, other: Catalog) {
        for (key, texts) in other.messages {
            self.messages.entry(key).or_default().extend(texts);
        }
        self.templates.extend(other.templates);
        self.marketing.extend(other.marketing);
    }

    /// Whether template `name` is in the marketing category (else utility).
    pub fn is_marketing(&self, name: &str) -> bool {
        self.marketing.contains(name)
    }

    /// An empty catalog (build one from scratch with [`Catalog::set`]).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Set (or replace) the text of `key` in `locale`. `{name}` placeholders are filled from
    /// the spec's parameters.
    pub fn set(&mut self, key: &str, locale: Locale, text: &str) {
        self.messages
            .entry(key.to_owned())
            .or_default()
            .insert(locale, text.to_owned());
    }

    /// Register the WhatsApp template sent for `key` outside the 24-hour window.
    pub fn set_template(&mut self, key: &str, template: &str) {
        self.templates.insert(key.to_owned(), template.to_owned());
    }

    /// Whether `key` has a text in `locale`.
    pub fn has(&self, key: &str, locale: Locale) -> bool {
        self.messages
            .get(key)
            .is_some_and(|m| m.contains_key(&locale))
    }

    /// The text of `key` in `locale`, placeholders unfilled.
    pub fn text(&self, key: &str, locale: Locale) -> Option<&str> {
        self.messages
            .get(key)
            .and_then(|m| m.get(&locale))
            .map(String::as_str)
    }

    /// The version of the consent text a user in `locale` is shown: `sha256:` and the first 16
    /// hex digits of the SHA-256 of the `consent.ask` text (as the catalog holds it, with the
    /// accept and decline labels). Any change of wording — a new privacy notice, a
    /// translation — is a new version, with nothing to bump by hand; the machine records it
    /// in the `consent.given` audit line, so what each user agreed to can be shown later.
    /// `None` when the catalog has no consent text in `locale`.
    pub fn consent_version(&self, locale: Locale) -> Option<String> {
        use sha2::{Digest, Sha256};
        let ask = self.text("consent.ask", locale)?;
        let mut h = Sha256::new();
        for part in [
            ask,
            self.text("button.accept", locale).unwrap_or(""),
            self.text("button.decline", locale).unwrap_or(""),
        ] {
            // Length-prefixed, so moving words between the parts changes the digest.
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Some(format!("sha256:{hex}"))
    }

    /// The WhatsApp template registered for `key`, if any.
    pub fn template_name(&self, key: &str) -> Option<&str> {
        self.templates.get(key).map(String::as_str)
    }

    /// Every key, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.messages.keys().map(String::as_str)
    }

    /// Render a spec into what the transport sends (Text / Buttons / Template, see ports::OutboundBody).
    pub fn render(&self, spec: &MessageSpec, locale: Locale) -> Result<OutboundBody, CatalogError> {
        if let MessageDelivery::Template { name } = &spec.delivery {
            return Ok(OutboundBody::Template {
                name: name.clone(),
                language: locale.template_code().to_owned(),
                body_params: spec.params.iter().map(|(_, v)| v.clone()).collect(),
            });
        }
        let text = self.lookup(&spec.key, locale)?;
        let mut body = fill(&spec.key, text, &spec.params)?;
        if let Some(lead) = &spec.lead {
            let opening = fill(lead, self.lookup(lead, locale)?, &[])?;
            body = format!("{opening}\n\n{body}");
        }
        if spec.request_contact {
            if !spec.buttons.is_empty() {
                return Err(CatalogError::ButtonsOnContactRequest {
                    key: spec.key.clone(),
                });
            }
            return Ok(OutboundBody::ContactRequest { body });
        }
        if spec.buttons.is_empty() {
            return Ok(OutboundBody::Text {
                body,
                preview_url: false,
            });
        }
        if spec.buttons.len() > 3 {
            return Err(CatalogError::TooManyButtons {
                key: spec.key.clone(),
                count: spec.buttons.len(),
            });
        }
        let mut buttons = Vec::with_capacity(spec.buttons.len());
        for b in &spec.buttons {
            let title = self.lookup(&b.label_key, locale)?;
            let len = title.chars().count();
            if len > MAX_BUTTON_TITLE {
                return Err(CatalogError::ButtonTooLong {
                    label_key: b.label_key.clone(),
                    len,
                });
            }
            buttons.push(ReplyButton {
                id: b.id.clone(),
                title: title.to_owned(),
            });
        }
        Ok(OutboundBody::Buttons {
            header: None,
            body,
            footer: None,
            buttons,
        })
    }

    fn lookup(&self, key: &str, locale: Locale) -> Result<&str, CatalogError> {
        self.text(key, locale)
            .ok_or_else(|| CatalogError::UnknownKey {
                key: key.to_owned(),
                locale: locale.tag().to_owned(),
            })
    }
}

/// Replace `{name}` placeholders; `{{` and `}}` are literal braces.
fn fill(key: &str, text: &str, params: &[(String, String)]) -> Result<String, CatalogError> {
    if !text.contains(['{', '}']) {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if let (true, Some(end)) = (tail.starts_with('{'), tail.find('}')) {
            let name = &tail[1..end];
            let value = params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .ok_or_else(|| CatalogError::MissingParam {
                    key: key.to_owned(),
                    param: name.to_owned(),
                })?;
            out.push_str(value);
            rest = &tail[end + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::ButtonSpec;

    #[test]
    fn every_key_exists_in_every_locale_and_buttons_fit() {
        let c = Catalog::builtin();
        for key in c.keys() {
            for l in Locale::ALL {
                let t = c.text(key, l).unwrap_or_else(|| panic!("{key} {l:?}"));
                assert!(!t.is_empty(), "{key} {l:?}");
                if key.starts_with("button.") {
                    assert!(t.chars().count() <= MAX_BUTTON_TITLE, "{key} {l:?}");
                }
            }
        }
        for r in RetakeReason::ALL {
            assert!(c.has(retake_key(r), Locale::PtBr), "{r:?}");
        }
        for k in OUT_OF_WINDOW_KEYS {
            assert!(c.template_name(k).is_some(), "{k}");
        }
    }

    #[test]
    fn the_consent_version_follows_the_wording_shown_and_nothing_else() {
        let c = Catalog::builtin();
        let mx = c.consent_version(Locale::EsMx).unwrap();
        assert!(mx.starts_with("sha256:") && mx.len() == 7 + 16, "{mx}");
        // Stable across calls and catalogs built alike (it identifies a text, not a moment).
        assert_eq!(
            Catalog::builtin().consent_version(Locale::EsMx),
            Some(mx.clone())
        );
        // Another language's text is another version.
        assert_ne!(c.consent_version(Locale::En).unwrap(), mx);
        // A new wording is a new version; other messages changing are not.
        let mut reworded = c.clone();
        reworded.set(
            "consent.ask",
            Locale::EsMx,
            "¿Nos autorizas a tratar tus datos?",
        );
        assert_ne!(reworded.consent_version(Locale::EsMx).unwrap(), mx);
        let mut relabelled = c.clone();
        relabelled.set("button.accept", Locale::EsMx, "Sí, acepto");
        assert_ne!(relabelled.consent_version(Locale::EsMx).unwrap(), mx);
        let mut other = c.clone();
        other.set("welcome", Locale::EsMx, "Hola");
        assert_eq!(other.consent_version(Locale::EsMx), Some(mx));
        assert_eq!(Catalog::default().consent_version(Locale::EsMx), None);
    }

    #[test]
    fn a_lead_opens_the_message_a_blank_line_before_its_own_text() {
        let c = Catalog::builtin();
        let spec = MessageSpec {
            lead: Some("welcome".into()),
            buttons: vec![ButtonSpec {
                id: CONSENT_ACCEPT.into(),
                label_key: "button.accept".into(),
            }],
            ..MessageSpec::text("consent.ask")
        };
        let OutboundBody::Buttons { body, .. } = c.render(&spec, Locale::En).unwrap() else {
            panic!("buttons");
        };
        let welcome = c.text("welcome", Locale::En).unwrap();
        let ask = c.text("consent.ask", Locale::En).unwrap();
        assert_eq!(body, format!("{welcome}\n\n{ask}"));
        // A lead the catalog lacks is the same error as a missing key.
        let bad = MessageSpec {
            lead: Some("no.such.key".into()),
            ..MessageSpec::text("consent.ask")
        };
        assert!(matches!(
            c.render(&bad, Locale::En),
            Err(CatalogError::UnknownKey { .. })
        ));
    }

    #[test]
    fn teams_override_wording_in_toml() {
        let mut c = Catalog::builtin();
        let o = Catalog::from_toml(
            r#"
[messages."consent.ask"]
es-MX = "¿Nos das permiso?"
en = "May we?"

[messages."brand.new"]
en = "Hi"

[templates]
reminder = "acme_kyc_reminder"
"#,
        )
        .unwrap();
        c.merge(o);
        assert_eq!(
            c.text("consent.ask", Locale::EsMx),
            Some("¿Nos das permiso?")
        );
        assert!(
            c.text("consent.ask", Locale::PtBr)
                .unwrap()
                .contains("consentimento")
        );
        assert_eq!(c.text("brand.new", Locale::En), Some("Hi"));
        assert_eq!(c.template_name("reminder"), Some("acme_kyc_reminder"));
        assert_eq!(c.template_name("expired"), Some("kyc_expired"));
        assert!(Catalog::from_toml("[messages.x]\nxx-YY = \"?\"").is_err());
    }

    #[test]
    fn catalogs_serialize() {
        let c = Catalog::builtin();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"es-CO\""));
        assert_eq!(serde_json::from_str::<Catalog>(&json).unwrap(), c);
    }

    #[test]
    fn colombian_and_peruvian_variants_differ_where_words_differ() {
        let c = Catalog::builtin();
        let front = |l| c.text("capture.front", l).unwrap();
        assert!(front(Locale::EsCo).contains("cédula"));
        assert!(front(Locale::EsPe).contains("DNI"));
        assert_eq!(
            c.text("retake.blur", Locale::EsCo),
            c.text("retake.blur", Locale::EsMx)
        );
    }

    #[test]
    fn renders_text_buttons_and_templates() {
        let c = Catalog::builtin();
        let mut spec = MessageSpec::text("consent.ask");
        spec.buttons = vec![
            ButtonSpec {
                id: CONSENT_ACCEPT.into(),
                label_key: "button.accept".into(),
            },
            ButtonSpec {
                id: CONSENT_DECLINE.into(),
                label_key: "button.decline".into(),
            },
        ];
        match c.render(&spec, Locale::PtBr).unwrap() {
            OutboundBody::Buttons { buttons, body, .. } => {
                assert!(body.contains("consentimento"));
                assert_eq!(buttons[0].title, "Aceito");
                assert_eq!(buttons[1].id, CONSENT_DECLINE);
            }
            other => panic!("{other:?}"),
        }
        let mut spec = MessageSpec::text("reminder");
        spec.delivery = MessageDelivery::Template {
            name: "kyc_reminder".into(),
        };
        assert_eq!(
            c.render(&spec, Locale::EsCo).unwrap(),
            OutboundBody::Template {
                name: "kyc_reminder".into(),
                language: "es_CO".into(),
                body_params: vec![],
            }
        );
        assert!(matches!(
            c.render(&MessageSpec::text("nope"), Locale::En),
            Err(CatalogError::UnknownKey { .. })
        ));
    }

    #[test]
    fn placeholders_are_filled_and_missing_ones_reported() {
        let mut c = Catalog::empty();
        c.set("x", Locale::En, "Hi {who}, {{literal}} {n}");
        let mut spec = MessageSpec::text("x");
        spec.params = vec![("who".into(), "Ana".into()), ("n".into(), "3".into())];
        assert_eq!(
            c.render(&spec, Locale::En).unwrap(),
            OutboundBody::Text {
                body: "Hi Ana, {literal} 3".into(),
                preview_url: false
            }
        );
        spec.params.pop();
        assert_eq!(
            c.render(&spec, Locale::En),
            Err(CatalogError::MissingParam {
                key: "x".into(),
                param: "n".into()
            })
        );
    }

    proptest::proptest! {
        #[test]
        fn rendering_and_keywords_never_panic(text in ".{0,60}", value in ".{0,10}") {
            let mut c = Catalog::empty();
            c.set("k", Locale::En, &text);
            let mut spec = MessageSpec::text("k");
            spec.params = vec![("a".into(), value)];
            let _ = c.render(&spec, Locale::En);
            let _ = keyword(&text);
        }
    }

    #[test]
    fn keywords_in_every_language() {
        assert_eq!(keyword("STOP"), Some(Keyword::Stop));
        assert_eq!(keyword("  Cancelar. "), Some(Keyword::Stop));
        assert_eq!(keyword("Ajuda!"), Some(Keyword::Help));
        assert_eq!(keyword("¿Ayuda?"), Some(Keyword::Help));
        assert_eq!(keyword("Sí"), Some(Keyword::Yes));
        assert_eq!(keyword("NÃO"), Some(Keyword::No));
        assert_eq!(keyword("no tengo luz"), None);
        assert_eq!(keyword("👍"), None);
        assert_eq!(keyword("Português"), Some(Keyword::Language(Locale::PtBr)));
        assert_eq!(keyword("ESPAÑOL"), Some(Keyword::Language(Locale::EsMx)));
    }
}
