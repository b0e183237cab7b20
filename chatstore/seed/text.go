package seed

// Phrases the seed generator strings together, per script. Each contact has a
// preferred script; some messages mix scripts and most carry emoji now and then.

var phrasesLatin = []string{
	"hey, are you around later?", "on my way", "running 10 min late, sorry!",
	"did you see the match last night?", "can you send me the address?",
	"happy birthday!!", "let's grab lunch tomorrow", "the meeting moved to 3pm",
	"I'll call you when I land", "thanks so much", "no worries at all",
	"¿Vienes a la cena el sábado?", "¡Qué bueno verte ayer!", "nos vemos mañana",
	"Bist du heute Abend zu Hause?", "Schöne Grüße aus München", "ça marche, à demain",
	"Où est-ce qu'on se retrouve ?", "just finished the report, sending it now",
	"who's bringing the snacks?", "the train is delayed again", "ok",
	"sounds good", "lol", "what time works for you?", "I found the keys!",
	"can you pick up milk on the way home", "Straße gesperrt, nimm die Umleitung",
	"it's raining like crazy here", "photos from the weekend", "see you at the gate",
}

var phrasesCJK = []string{
	"你好，今天有空吗？", "我已经到了", "明天见！", "谢谢你的帮助", "晚上一起吃饭吧",
	"这个周末你有什么计划？", "路上堵车，晚点到", "生日快乐！", "收到，马上处理",
	"おはようございます", "今日は本当にありがとう", "駅に着いたら連絡してね", "了解です！",
	"来週の会議の資料を送ります", "안녕하세요, 잘 지내요?", "내일 만나요", "고마워요!",
}

var phrasesDevanagari = []string{
	"नमस्ते, कैसे हो?", "मैं रास्ते में हूँ", "कल मिलते हैं", "धन्यवाद!", "खाना खा लिया?",
	"आज बहुत बारिश हो रही है", "जन्मदिन मुबारक हो!", "मीटिंग तीन बजे है", "ठीक है, मैं देख लूँगा",
	"शाम को फ़ोन करना", "घर कब आ रहे हो?", "बहुत बढ़िया!",
}

var phrasesArabic = []string{
	"مرحبا، كيف حالك؟", "أنا في الطريق", "نراك غدا", "شكرا جزيلا", "عيد ميلاد سعيد!",
	"متى نلتقي؟", "الاجتماع الساعة الثالثة", "الجو حار جدا اليوم", "تمام، اتفقنا",
	"أرسل لي العنوان من فضلك", "وصلت إلى المطار", "إن شاء الله",
}

var scripts = [][]string{phrasesLatin, phrasesCJK, phrasesDevanagari, phrasesArabic}

var emojis = []string{
	"😂", "❤️", "👍", "🙏", "😭", "🎉", "🔥", "😍", "🥳", "😅", "👀", "💯", "🤔", "😊",
	"🙌", "✨", "😢", "👋", "🍕", "☕", "🚆", "✈️", "🏠", "🎂", "👨‍👩‍👧", "🇮🇳", "🇯🇵", "🏳️‍🌈",
}

var reactionEmojis = []string{"👍", "❤️", "😂", "😮", "😢", "🙏", "🔥", "🎉"}

var firstNames = []string{
	"Alice", "Bruno", "Chen Wei", "Dana", "Emeka", "Fatima", "Giulia", "Hiroshi", "Ines",
	"Jae-won", "Kavya", "Liam", "Mariam", "Noah", "Olga", "Priya", "Quentin", "Rahul",
	"Sofia", "Tomás", "Umar", "Valentina", "Wang Fang", "Xavier", "Yuki", "Zainab",
	"أحمد", "李娜", "राज", "さくら", "Zoë", "Søren", "Łukasz", "Nguyễn An",
}

var lastNames = []string{
	"Smith", "García", "Müller", "Kumar", "Haddad", "Tanaka", "Rossi", "Okafor", "Kim",
	"Novak", "Silva", "Dubois", "Ivanova", "Chen", "Sharma", "Hassan", "Johansson",
}

var groupNames = []string{
	"Family", "Book club 📚", "Flatmates", "Football Sunday ⚽", "Project Apollo",
	"家族", "दोस्त", "العائلة", "Trip to Lisbon ✈️", "Climbing crew", "Parents of 3B",
	"Band practice 🎸", "Office", "Hiking 🏔️", "Cousins", "Reunion 2010",
}
