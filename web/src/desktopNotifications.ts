// The browser's notifications for new mentions and replies, once the person allows
// them (the browser asks only after a click of theirs). Shown only while the page
// is hidden or unfocused: when the person is looking, the in-app badge says it.

export type DesktopPermission = NotificationPermission | 'unsupported';

function supported(): boolean {
  return typeof window !== 'undefined' && 'Notification' in window;
}

export function desktopPermission(): DesktopPermission {
  return supported() ? Notification.permission : 'unsupported';
}

export async function askDesktopPermission(): Promise<DesktopPermission> {
  if (!supported()) return 'unsupported';
  return Notification.requestPermission();
}

/** Shows one notification; clicking it brings the tab forward and runs `onClick`.
 * `tag` (the message id) keeps a replayed message from showing twice. */
export function showDesktopNotification(title: string, body: string, tag: string, onClick: () => void): void {
  if (desktopPermission() !== 'granted' || (document.visibilityState === 'visible' && document.hasFocus())) return;
  const shown = new Notification(title, { body, tag });
  shown.onclick = () => {
    window.focus();
    onClick();
    shown.close();
  };
}
