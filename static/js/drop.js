// How photos reach the page besides the form's button: a file or folder picked, a drop (files, or folders read
// recursively through queue.js), a paste. app.js says what becomes of them (cards or the queue).
(function () {
  "use strict";

  /** Listen for photos: `addFiles(files)` gets picked, dropped or pasted files; `addPhotos([{file, path}],
   *  true, unreadable)` a folder's photos with their paths. */
  function watch({ form, input, folderInput, dropzone, addFiles, addPhotos }) {
    input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
    folderInput.addEventListener("change", () => {
      addPhotos(Array.from(folderInput.files).map((file) => ({ file, path: file.webkitRelativePath || file.name })), true);
      folderInput.value = "";
    });
    form.addEventListener("submit", (event) => { event.preventDefault(); addFiles(input.files); });

    let dragDepth = 0;
    const hasFiles = (event) => Array.from(event.dataTransfer ? event.dataTransfer.types : []).includes("Files");
    window.addEventListener("dragenter", (event) => {
      if (!hasFiles(event)) return;
      dragDepth += 1;
      dropzone.classList.add("is-dragging");
    });
    window.addEventListener("dragleave", () => {
      dragDepth = Math.max(0, dragDepth - 1);
      if (!dragDepth) dropzone.classList.remove("is-dragging");
    });
    window.addEventListener("dragover", (event) => { if (hasFiles(event)) event.preventDefault(); });
    window.addEventListener("drop", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      dragDepth = 0;
      dropzone.classList.remove("is-dragging");
      const entries = ColorizeQueue.entriesOf(event.dataTransfer);
      if (!entries.some((entry) => entry.isDirectory)) {
        addFiles(event.dataTransfer.files);
        return;
      }
      ColorizeQueue.filesFromEntries(entries).then(({ files, unreadable }) => addPhotos(files, true, unreadable));
    });
    document.addEventListener("paste", (event) => {
      const files = Array.from(event.clipboardData ? event.clipboardData.files : []);
      if (files.length) {
        event.preventDefault();
        addFiles(files);
      }
    });
  }

  window.ColorizeDrop = { watch };
})();
