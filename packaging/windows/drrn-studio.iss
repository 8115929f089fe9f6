; Inno Setup script for DRRN Studio on Windows (x64).
;
;   iscc /DAppVersion=0.1.0 packaging\windows\drrn-studio.iss
;
; Packs the PyInstaller folder dist\drrn-studio (build.spec) into
; dist\drrn-studio-<version>-windows-x86_64-setup.exe. Relative paths below are relative to this
; file. .github/workflows/release.yml builds it; it has not been compiled on the machine where it
; was written (Linux), see docs/INSTALLERS.md.
;
;   /DVCRedist=path\to\vc_redist.x64.exe   bundle Microsoft's VC++ 2015-2022 runtime installer
;     and run it when the installed runtime is missing or older than 14.40 (torch >= 2.9 fails
;     to load c10.dll, WinError 1114, with an older msvcp140.dll). The workflow downloads it.

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
; The "Open with" entries below: tell Explorer to refresh its associations.
ChangesAssociations=yes
LicenseFile=..\..\LICENSE

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole one-folder bundle: drrn-studio.exe (app), drrn.exe (command line), _internal\.
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
#ifdef VCRedist
Source: "{#VCRedist}"; DestDir: "{tmp}"; DestName: "vc_redist.x64.exe"; Flags: deleteafterinstall; Check: VCRedistNeeded
#endif

[InstallDelete]
; An upgrade replaces the bundle's libraries wholesale; stale files from an older torch or Qt
; in _internal would otherwise linger next to the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\DRRN Studio"; Filename: "{app}\drrn-studio.exe"
Name: "{autodesktop}\DRRN Studio"; Filename: "{app}\drrn-studio.exe"; Tasks: desktopicon

[Registry]
; "Open with DRRN Studio" for the image types the app reads (it does not take over the default
; program). HKA = the current user's classes for a per-user install, the machine's otherwise.
Root: HKA; Subkey: "Software\Classes\DRRNStudio.Image"; ValueType: string; ValueName: ""; ValueData: "Image (DRRN Studio)"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\DRRNStudio.Image\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\drrn-studio.exe,0"
Root: HKA; Subkey: "Software\Classes\DRRNStudio.Image\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\drrn-studio.exe"" ""%1"""
Root: HKA; Subkey: "Software\Classes\Applications\drrn-studio.exe"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "DRRN Studio"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\drrn-studio.exe\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\drrn-studio.exe"" ""%1"""
Root: HKA; Subkey: "Software\Classes\.png\OpenWithProgids"; ValueType: string; ValueName: "DRRNStudio.Image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Applications\drrn-studio.exe\SupportedTypes"; ValueType: string; ValueName: ".png"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\.jpg\OpenWithProgids"; ValueType: string; ValueName: "DRRNStudio.Image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Applications\drrn-studio.exe\SupportedTypes"; ValueType: string; ValueName: ".jpg"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\.jpeg\OpenWithProgids"; ValueType: string; ValueName: "DRRNStudio.Image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Applications\drrn-studio.exe\SupportedTypes"; ValueType: string; ValueName: ".jpeg"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\.webp\OpenWithProgids"; ValueType: string; ValueName: "DRRNStudio.Image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Applications\drrn-studio.exe\SupportedTypes"; ValueType: string; ValueName: ".webp"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\.tif\OpenWithProgids"; ValueType: string; ValueName: "DRRNStudio.Image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Applications\drrn-studio.exe\SupportedTypes"; ValueType: string; ValueName: ".tif"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\.tiff\OpenWithProgids"; ValueType: string; ValueName: "DRRNStudio.Image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Applications\drrn-studio.exe\SupportedTypes"; ValueType: string; ValueName: ".tiff"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\.bmp\OpenWithProgids"; ValueType: string; ValueName: "DRRNStudio.Image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Applications\drrn-studio.exe\SupportedTypes"; ValueType: string; ValueName: ".bmp"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\.ppm\OpenWithProgids"; ValueType: string; ValueName: "DRRNStudio.Image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Applications\drrn-studio.exe\SupportedTypes"; ValueType: string; ValueName: ".ppm"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\.pgm\OpenWithProgids"; ValueType: string; ValueName: "DRRNStudio.Image"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Applications\drrn-studio.exe\SupportedTypes"; ValueType: string; ValueName: ".pgm"; ValueData: ""

[Run]
#ifdef VCRedist
; Needs administrator rights (vc_redist asks for them itself: shellexec); only when required.
Filename: "{tmp}\vc_redist.x64.exe"; Parameters: "/install /quiet /norestart"; StatusMsg: "Installing the Microsoft Visual C++ runtime..."; Flags: shellexec waituntilterminated; Check: VCRedistNeeded
#endif
Filename: "{app}\drrn-studio.exe"; Description: "{cm:LaunchProgram,DRRN Studio}"; Flags: nowait postinstall skipifsilent

[Code]
// True when the VC++ 2015-2022 x64 runtime is missing or older than 14.40 (what torch >= 2.9's
// DLLs are built against).
function VCRedistNeeded(): Boolean;
var
  Installed, Major, Minor: Cardinal;
  Key: String;
begin
  Key := 'SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64';
  Result := True;
  if RegQueryDWordValue(HKLM64, Key, 'Installed', Installed) and (Installed = 1) and
     RegQueryDWordValue(HKLM64, Key, 'Major', Major) and
     RegQueryDWordValue(HKLM64, Key, 'Minor', Minor) then
    Result := (Major < 14) or ((Major = 14) and (Minor < 40));
end;
