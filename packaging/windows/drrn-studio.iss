; Inno Setup script for DRRN Studio on Windows (x64).
;
;   iscc /DAppVersion=0.1.0 packaging\windows\drrn-studio.iss
;
; Packs the PyInstaller folder dist\drrn-studio (build.spec) into
; dist\drrn-studio-<version>-windows-x86_64-setup.exe. Relative paths below are relative to this
; file. .github/workflows/release.yml builds it; it has not been compiled on the machine where it
; was written (Linux), see docs/INSTALLERS.md.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\drrn-studio"
#endif

[Setup]
; Fixed for the life of the product: Windows matches upgrades and the uninstaller by it.
AppId={{C1759C3E-56F7-46BD-8BA8-D7740A853610}
AppName=DRRN Studio
AppVersion={#AppVersion}
AppVerName=DRRN Studio {#AppVersion}
AppPublisher=DRRN Studio
DefaultDirName={autopf}\DRRN Studio
DefaultGroupName=DRRN Studio
DisableProgramGroupPage=yes
; Installs for the current user without admin rights by default (into %LOCALAPPDATA%\Programs);
; the dialog offers an all-users install under Program Files.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=drrn-studio-{#AppVersion}-windows-x86_64-setup
SetupIconFile=..\..\resources\icons\drrn-studio.ico
UninstallDisplayIcon={app}\drrn-studio.exe
UninstallDisplayName=DRRN Studio {#AppVersion}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole one-folder bundle: drrn-studio.exe (app), drrn.exe (command line), _internal\.
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade replaces the bundle's libraries wholesale; stale files from an older torch or Qt
; in _internal would otherwise linger next to the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\DRRN Studio"; Filename: "{app}\drrn-studio.exe"
Name: "{autodesktop}\DRRN Studio"; Filename: "{app}\drrn-studio.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\drrn-studio.exe"; Description: "{cm:LaunchProgram,DRRN Studio}"; Flags: nowait postinstall skipifsilent
