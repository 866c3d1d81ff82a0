// Recording on the page: the microphone for a voice, the camera for a face.
// The recording becomes a file like any other; the page hands it to the same
// input as a chosen file (so the same checks and messages apply).

/**
 * Make `button` start and stop a recording of `constraints`
 * (getUserMedia's): `done(file)` gets it, named `name`; `failed(message)`
 * hears why recording could not start.
 */
export function recordWith(button, constraints, name, { done, failed }) {
  const idle = button.textContent;
  let recorder = null;
  button.hidden = !navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === 'undefined';
  button.addEventListener('click', async () => {
    if (recorder) {
      recorder.stop();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(constraints);
    } catch (error) {
      const why = error.name === 'NotAllowedError' ? 'permission was refused (allow it in the address bar)' : error.message;
      failed(`Could not start recording: ${why}.`);
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = ({ data }) => data.size && chunks.push(data);
    recorder.onstop = () => {
      stream.getTracks().forEach((track) => track.stop());
      const type = recorder.mimeType || chunks[0]?.type || 'video/webm';
      recorder = null;
      button.textContent = idle;
      button.dataset.recording = 'false';
      const extension = type.includes('mp4') ? 'mp4' : 'webm';
      done(new File(chunks, `${name}.${extension}`, { type }));
    };
    recorder.start(250);
    button.textContent = 'Stop recording';
    button.dataset.recording = 'true';
  });
}
