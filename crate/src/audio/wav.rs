//! WAV files through the audio front end (natively: the CLI and the fuzzer;
//! in the browser the page decodes media). The container is hound's, a
//! maintained WAV reader; this adds reading in pieces, so an hour-long
//! recording never sits in memory whole, and keeps what arrived of a file
//! that ends early.

use std::io::Read;

use super::voice::{Voice, VoiceBuilder};

/// The voice in a WAV stream. `warn` hears of a file cut short (its audio
/// up to there is kept).
pub fn hear<R: Read>(reader: R, mut warn: impl FnMut(String)) -> Result<Voice, String> {
    let mut reader = hound::WavReader::new(reader).map_err(|e| format!("not a readable WAV file ({e})"))?;
    let spec = reader.spec();
    // Refuses a channel count outside 1..=32 (and so 0) with its reason.
    let mut voice = VoiceBuilder::new(spec.sample_rate, spec.channels as usize)?;
    // hound checks bits_per_sample against the format (1..=32 for integers).
    let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
    let samples: Box<dyn Iterator<Item = hound::Result<f32>>> = match spec.sample_format {
        hound::SampleFormat::Float => Box::new(reader.samples::<f32>()),
        hound::SampleFormat::Int => Box::new(reader.samples::<i32>().map(move |s| s.map(|s| s as f32 * scale))),
    };
    let channels = spec.channels as usize;
    let mut piece = Vec::with_capacity(1 << 16);
    for (read, sample) in samples.enumerate() {
        match sample {
            Ok(s) => piece.push(s),
            // A cut-off file keeps what arrived: the user's audio up to there.
            Err(e) if read > 0 => {
                warn(format!(
                    "the file ends early ({e}); using the {:.2} s before that",
                    read as f64 / channels as f64 / spec.sample_rate as f64
                ));
                break;
            }
            Err(e) => return Err(e.to_string()),
        }
        if piece.len() == piece.capacity() {
            voice.push(&piece)?;
            piece.clear();
        }
    }
    // A piece always holds whole frames (its capacity is a power of two,
    // but the channel count need not divide it): keep the remainder.
    let whole = piece.len() - piece.len() % channels;
    voice.push(&piece[..whole])?;
    Ok(voice.finish())
}

#[cfg(test)]
mod tests {
    use super::hear;
    use crate::testdata::fixture;

    #[test]
    fn reads_the_fixture_speech_in_mono_and_stereo() {
        let mono = hear(std::io::Cursor::new(fixture("speech16k.wav")), |w| panic!("{w}")).unwrap();
        assert_eq!((mono.hearing.sample_rate, mono.hearing.channels), (16_000, 1));
        let stereo = hear(std::io::Cursor::new(fixture("speech44k_stereo.wav")), |w| panic!("{w}")).unwrap();
        assert_eq!((stereo.hearing.sample_rate, stereo.hearing.channels), (44_100, 2));
        assert!((mono.hearing.seconds - stereo.hearing.seconds).abs() < 0.05);
    }

    #[test]
    fn a_cut_off_file_keeps_what_arrived() {
        let bytes = fixture("speech16k.wav");
        let mut warned = None;
        let voice = hear(std::io::Cursor::new(&bytes[..bytes.len() / 2 + 1]), |w| warned = Some(w)).unwrap();
        assert!(warned.unwrap().contains("ends early"));
        assert!(voice.hearing.seconds > 0.5);
    }

    #[test]
    fn garbage_is_refused_plainly() {
        let Err(error) = hear(std::io::Cursor::new(b"RIFF\x04\0\0\0WAVEjunk".to_vec()), |_| {}) else { panic!("garbage read as a voice") };
        assert!(error.contains("WAV"), "{error}");
    }
}
