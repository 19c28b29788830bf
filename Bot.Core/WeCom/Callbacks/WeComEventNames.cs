namespace Bot.Core.WeCom.Callbacks;

/// <summary>MsgType values of app callbacks (FACTS §4.1).</summary>
public static class WeComMsgType
{
    public const string Text = "text";
    public const string Event = "event";
}

/// <summary>Event values of customer-contact callbacks (FACTS §3).</summary>
public static class WeComEventNames
{
    public const string ChangeExternalContact = "change_external_contact";
    public const string ChangeExternalChat = "change_external_chat";
    public const string ChangeExternalTag = "change_external_tag";
}

/// <summary>ChangeType values of <see cref="WeComEventNames.ChangeExternalContact"/> (FACTS §3.1–3.6).</summary>
public static class ExternalContactChange
{
    public const string Add = "add_external_contact";
    public const string Edit = "edit_external_contact";
    public const string AddHalf = "add_half_external_contact";
    public const string Delete = "del_external_contact";
    public const string DeleteFollowUser = "del_follow_user";
    public const string TransferFail = "transfer_fail";
}

/// <summary>ChangeType values of <see cref="WeComEventNames.ChangeExternalChat"/> (FACTS §3.8).</summary>
public static class ExternalChatChange
{
    public const string Create = "create";
    public const string Update = "update";
    public const string Dismiss = "dismiss";
}

/// <summary>UpdateDetail values of an external chat <see cref="ExternalChatChange.Update"/> (FACTS §3.8).</summary>
public static class ChatUpdateDetail
{
    public const string AddMember = "add_member";
    public const string DeleteMember = "del_member";
    public const string ChangeOwner = "change_owner";
    public const string ChangeName = "change_name";
    public const string ChangeNotice = "change_notice";
}

/// <summary>Robot (智能机器人) chattype values (FACTS §4.2).</summary>
public static class RobotChatType
{
    public const string Single = "single";
    public const string Group = "group";
}
