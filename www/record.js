// Recording on the page: the microphone for a voice, the camera for a face.
// The recording becomes a file like any other and goes through the same
// input (so the same checks and messages apply).

/**
 * Make `button` start and stop a recording of `constraints`
 * (getUserMedia's), handing the result to `input` as a file named `name`.
 */
export function recordInto(button, input, constraints, name) {
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
      const status = input.closest('section').querySelector('[aria-live]');
      status.textContent = `Could not start recording: ${why}.`;
      status.dataset.state = 'error';
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
      const transfer = new DataTransfer();
      transfer.items.add(new File(chunks, `${name}.${extension}`, { type }));
      input.files = transfer.files;
      input.dispatchEvent(new Event('change'));
    };
    recorder.start(250);
    button.textContent = 'Stop recording';
    button.dataset.recording = 'true';
  });
}
